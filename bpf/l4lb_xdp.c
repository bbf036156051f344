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

static __always_inline struct svc_val *find_service(__be32 vip, __be16 port, __u8 proto,
						    __u16 cfg_flags)
{
	struct svc_key key = { .vip = vip, .port = port, .proto = proto };
	struct svc_val *svc = bpf_map_lookup_elem(&services, &key);

	if (svc)
		return svc;
	key.port = 0;
	svc = bpf_map_lookup_elem(&services, &key);
	if (svc || !(cfg_flags & CFG_CATCH_ALL))
		return svc;
	key.vip = 0;
	key.proto = 0;
	return bpf_map_lookup_elem(&services, &key);
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
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		PASS(R_PASS_NOT_IPV4);

	struct iphdr *iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		DROP(R_DROP_TRUNCATED);

	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		DROP(R_DROP_MALFORMED); /* unreachable: array slot 0 always exists */
	__u16 cfg_flags = cfg->flags;
	if (!(cfg_flags & CFG_CATCH_ALL) && !bpf_map_lookup_elem(&vips, &iph->daddr))
		PASS(R_PASS_NOT_VIP);

	/* From here on the packet is addressed to us: judge it strictly. */
	if (iph->version != 4 || iph->ihl < 5)
		DROP(R_DROP_MALFORMED);
	__u16 tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < sizeof(*iph) || (void *)iph + tot_len > data_end)
		DROP(R_DROP_MALFORMED);
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
	if ((void *)(iph + 1) + l4_len > data_end || tot_len < sizeof(*iph) + l4_len)
		DROP(R_DROP_TRUNCATED);

	struct svc_val *svc = find_service(iph->daddr, ports->dst, iph->protocol, cfg_flags);
	if (!svc)
		PASS(R_PASS_NO_SERVICE);

	/* Read the service entry once: the control plane may replace it at any
	 * moment, and chunk and size must come from the same ring. */
	__u32 ring_chunk = svc->ring_chunk;
	__u32 ring_size = svc->ring_size;
	if (ring_size == 0 || ring_size > RING_MAX_SLOTS)
		DROP(R_DROP_NO_BACKEND);

	__u32 hash = flow_hash(iph->saddr, ((__u32)ports->src << 16) | ports->dst);
	__u32 slot = reduce(hash, ring_size);
	__u32 chunk_idx = ring_chunk + slot / CHUNK_SLOTS;
	struct ring_chunk *chunk = bpf_map_lookup_elem(&rings, &chunk_idx);
	if (!chunk)
		DROP(R_DROP_NO_BACKEND);
	__u32 backend_idx = chunk->backend[slot & (CHUNK_SLOTS - 1)];
	struct backend *be = bpf_map_lookup_elem(&backends, &backend_idx);
	if (!be || !be->ip)
		DROP(R_DROP_NO_BACKEND);

	/* Outer header fields that come from the inner one (RFC 2003, 6864):
	 * DSCP/ECN and DF are copied; an atomic (DF) datagram needs no ID, and a
	 * fragmentable one keeps the inner ID, unique per inner flow. */
	__u8 tos = iph->tos;
	__be16 df = iph->frag_off & bpf_htons(IP_DF);
	__be16 id = df ? 0 : iph->id;

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		DROP(R_DROP_ADJUST_HEAD);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	struct ethhdr *out_eth = data;
	struct iphdr *outer = (void *)(out_eth + 1);
	if ((void *)(outer + 1) > data_end)
		DROP(R_DROP_ADJUST_HEAD);

	__builtin_memcpy(out_eth->h_dest, be->mac, ETH_ALEN);
	__builtin_memcpy(out_eth->h_source, cfg->ifmac, ETH_ALEN);
	out_eth->h_proto = bpf_htons(ETH_P_IP);

	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(tot_len + sizeof(*outer));
	outer->id = id;
	outer->frag_off = df;
	outer->ttl = IPIP_TTL;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = cfg->saddr;
	outer->daddr = be->ip;
	outer->check = ip_checksum(outer);

	count(backend_idx, &backend_stats, frame_len);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
