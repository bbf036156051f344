/* l4lb: hash a flow onto its service's slot ring, wrap it in IPIP to the
 * chosen backend and send it back out (XDP_TX).  Everything that is not a
 * configured service goes to the kernel untouched; every other verdict is
 * counted under a reason (see l4lb_consts.h). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"
#include "l4lb_maps.h"
#include "l4lb_parse.h"
#include "l4lb_svc.h"
#include "l4lb_encap.h"
#ifndef L4LB_OFFLOAD
#include "l4lb_flow.h"
#endif

#ifdef L4LB_OFFLOAD
#define COUNT_ADD(field, n) __sync_fetch_and_add(&(field), (n))
#else
#define COUNT_ADD(field, n) ((field) += (n))
#endif

static __always_inline void count(__u32 idx, void *map, __u64 bytes)
{
	struct counters *c = bpf_map_lookup_elem(map, &idx);

	if (c) {
		COUNT_ADD(c->pkts, 1);
		COUNT_ADD(c->bytes, bytes);
	}
}

#define VERDICT(action, reason)                          \
	do {                                             \
		count((reason), &reasons, frame_len);    \
		return (action);                         \
	} while (0)
#define PASS(reason) VERDICT(XDP_PASS, reason)
#define DROP(reason) VERDICT(XDP_DROP, reason)

/* The live ring's choice for a flow hash. */
static __always_inline struct backend *ring_pick(__u32 ring_chunk, __u32 ring_size, __u32 hash,
						 __u32 *backend_idx)
{
	if (ring_size == 0) /* every backend draining: only known flows go on */
		return NULL;
	__u32 slot = reduce(hash, ring_size);
	__u32 chunk_idx = ring_chunk + slot / CHUNK_SLOTS;
	struct ring_chunk *chunk = bpf_map_lookup_elem(&rings, &chunk_idx);

	if (!chunk)
		return NULL;
	*backend_idx = chunk->backend[slot & (CHUNK_SLOTS - 1)];
	return bpf_map_lookup_elem(&backends, backend_idx);
}

/* One bit per VIP in a 65536-bit map: Fibonacci hashing of the address. */
static __always_inline int maybe_vip(__be32 daddr)
{
	__u32 bit = ((__u32)daddr * 0x9E3779B1u) >> 16;
	__u32 entry = bit >> 12;
	struct vip_filter *vf = bpf_map_lookup_elem(&vip_filter, &entry);

	return vf && (vf->w[(bit >> 6) & (VIP_FILTER_WORDS - 1)] >> (bit & 63)) & 1;
}

/* The exact check behind vip_filter, on the rare paths: the VIP's marker
 * slot in svc_index (a bucket of inlined array lookups, no hash map). */
static __always_inline int is_vip(__be32 daddr, __u16 cfg_flags)
{
	return (cfg_flags & CFG_CATCH_ALL) || svc_scan(daddr, 0, 0, SVC_USED | SVC_VIP, ~0ULL, 0);
}

/* The ring's choice for a flow, or, for a flow's second packet, where its
 * first went (if that backend is still a member). */
static __always_inline struct backend *choose(struct svc_live *live, __u32 svc_id, __u32 hash,
					      void *miss, __u32 *backend_idx)
{
	/* One load: the flip may rewrite the entry at any moment, and chunk and
	 * size must come from the same ring. */
	__u64 ring = *(volatile __u64 *)&live->ring_chunk;
	__u32 ring_chunk = (__u32)ring;
	__u32 ring_size = ring >> 32;

#ifndef L4LB_OFFLOAD
	struct flow_miss *m = miss;

	if (m->stat == FLOW_STORED) {
		__u32 half = (ring_chunk >> RING_CHUNKS_LOG2) & 1;
		struct backend *be = flow_pick(m, svc_id, half, backend_idx);

		if (be)
			return be;
	}
#endif
	if (ring_size > RING_MAX_SLOTS)
		return NULL;
	struct backend *be = ring_pick(ring_chunk, ring_size, hash, backend_idx);

	return be && be->ip ? be : NULL;
}

SEC("xdp")
int l4lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 frame_len = data_end - data;
	__u32 zero = 0;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		DROP(R_DROP_TRUNCATED);
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD))
			PASS(R_PASS_VLAN);
		PASS(R_PASS_NOT_IPV4);
	}

	struct iphdr *iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		DROP(R_DROP_TRUNCATED);

	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		DROP(R_DROP_MALFORMED); /* unreachable: array slot 0 always exists */
	__u16 cfg_flags = cfg->flags;
	if (!(cfg_flags & CFG_CATCH_ALL) && !maybe_vip(iph->daddr))
		PASS(R_PASS_NOT_VIP);

	/* From here on the packet is (most likely) addressed to us: judge it
	 * strictly, but confirm the address exactly before dropping anything,
	 * since another host's packets are the kernel's to judge. */
	__be32 daddr = iph->daddr;
	if (iph->version != 4 || iph->ihl < 5) {
		if (!is_vip(daddr, cfg_flags))
			PASS(R_PASS_NOT_VIP);
		DROP(R_DROP_MALFORMED);
	}
	__u16 tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < sizeof(*iph) || (void *)iph + tot_len > data_end) {
		if (!is_vip(daddr, cfg_flags))
			PASS(R_PASS_NOT_VIP);
		DROP(R_DROP_MALFORMED);
	}
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		PASS(R_PASS_FRAGMENT);
	if (iph->ihl != 5)
		PASS(R_PASS_IP_OPTIONS);

	__u32 l4_len;
	if (iph->protocol == IPPROTO_TCP)
		l4_len = 20;
	else if (iph->protocol == IPPROTO_UDP)
		l4_len = 8;
	else
		PASS(R_PASS_NOT_TCP_UDP);
	struct ports *ports = (void *)(iph + 1);
	if ((void *)(iph + 1) + l4_len > data_end || tot_len < sizeof(*iph) + l4_len) {
		if (!is_vip(daddr, cfg_flags))
			PASS(R_PASS_NOT_VIP);
		DROP(R_DROP_TRUNCATED);
	}
	__u32 hash = flow_hash(iph->saddr, *(__u32 *)ports, daddr, iph->protocol);
	__u32 backend_idx = 0;
	struct backend *be = NULL;
	void *miss = NULL;
#ifndef L4LB_OFFLOAD
	/* An established flow: its entry names the backend. */
	__u8 *tcp_flags_at = (__u8 *)ports + TCP_FLAGS_OFF;
	__u8 tcp_flags = 0;
	if (iph->protocol == IPPROTO_TCP && (void *)(tcp_flags_at + 1) <= data_end)
		tcp_flags = *tcp_flags_at;
	__u32 now = (__u32)bpf_jiffies64();
	struct flow_miss fm;
	miss = &fm;
	be = flow_lookup(&fm, iph, ports, hash, tcp_flags, cfg, now, &backend_idx);
	if (be) {
		flow_count(FLOW_HIT);
		goto forward;
	}
#endif

	/* Otherwise its service, and the service's ring. */
	struct svc_slot *svc = find_service(daddr, ports->dst, iph->protocol, cfg_flags);
	if (!svc) {
		if (!is_vip(daddr, cfg_flags))
			PASS(R_PASS_NOT_VIP);
		PASS(R_PASS_NO_SERVICE);
	}
	__u32 svc_id = svc->id;
	struct svc_live *live = bpf_map_lookup_elem(&svc_live, &svc_id);
	if (!live)
		PASS(R_PASS_NO_SERVICE); /* unreachable: ids are checked when loaded */
	be = choose(live, svc_id, hash, miss, &backend_idx);
	if (!be)
		DROP(R_DROP_NO_BACKEND);
#ifndef L4LB_OFFLOAD
	flow_record(&fm, iph, ports, tcp_flags, now, svc_id, backend_idx, be->ip);
forward:
#endif

	if (cfg->mtu && tot_len + sizeof(struct iphdr) > cfg->mtu) {
		if (!(iph->frag_off & bpf_htons(IP_DF)))
			DROP(R_DROP_TOO_BIG);
#ifdef L4LB_OFFLOAD
		DROP(R_DROP_TOO_BIG); /* no bpf_xdp_adjust_tail on the NFP */
#else
		if (send_frag_needed(ctx, cfg->mtu))
			DROP(R_DROP_ADJUST_HEAD);
		VERDICT(XDP_TX, R_ICMP_FRAG_NEEDED);
#endif
	}
	if (encap_ipip(ctx, iph, tot_len, be, cfg))
		DROP(R_DROP_ADJUST_HEAD);
	count(backend_idx, &backend_stats, frame_len);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
