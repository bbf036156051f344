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

#ifndef L4LB_OFFLOAD
static __always_inline void flow_count(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&flow_stats, &what);

	if (n)
		*n += 1;
}

/* Addresses and ports are adjacent in the packet and in the entry: two
 * 8-byte and one 4-byte compare. */
static __always_inline int flow_is(struct flow *f, struct iphdr *iph, struct ports *ports)
{
	return *(__u64 *)&f->saddr == *(__u64 *)&iph->saddr &&
	       *(__u32 *)&f->sport == *(__u32 *)ports && f->proto == iph->protocol;
}

/* The fast path of an established flow: flow table, service and backend,
 * inlined array lookups and no hash-map lookup.  An entry is trusted while
 * its backend is still a member of the service: same address in the slot,
 * same service, and the live generation or the next one (a reload rewrites
 * surviving members with the next generation just before it flips the
 * service).  A removed backend keeps the old generation, so its flows move at
 * once.  Past its lifetime an entry still holds until another flow takes its
 * way: a flow back from a long pause stays where its server knows it. */
static __always_inline struct backend *flow_hit(struct flow *f, __u32 now, __u32 *backend_idx)
{
	__u32 svc_id = f->svc_id;
	struct svc_live *live = bpf_map_lookup_elem(&svc_live, &svc_id);

	if (!live || !live->gen)
		return NULL;
	*backend_idx = f->backend;
	struct backend *be = bpf_map_lookup_elem(&backends, backend_idx);
	if (!be || be->ip != f->backend_ip || be->svc_id != svc_id ||
	    (be->gen != (__u16)live->gen && be->gen != (__u16)(live->gen + 1)))
		return NULL;
	if (now - f->seen >= FLOW_REFRESH_JIFFIES)
		f->seen = now;
	return be;
}

static __always_inline __u32 flow_ttl(struct config *cfg, __u8 proto)
{
	return proto == IPPROTO_TCP ? cfg->ttl_tcp : cfg->ttl_udp;
}

static __always_inline struct flow *flow_find(__u32 slot, struct iphdr *iph, struct ports *ports)
{
	struct flow *f = bpf_map_lookup_elem(&flows, &slot);

	return f && flow_is(f, iph, ports) ? f : NULL;
}

/* 1 for a tag that stores a flow (1..127), else 0; branch-free. */
static __always_inline __u32 tag_stored(__u32 t)
{
	return ((t + 127) >> 7) & ~(t >> 7) & 1;
}

/* 1 for an empty tag, else 0; branch-free. */
static __always_inline __u32 tag_empty(__u32 t)
{
	return (t - 1) >> 31;
}

/* Another flow's entry gives its way up once it has expired. */
static __always_inline int flow_expired(__u32 slot, struct config *cfg, __u32 now)
{
	struct flow *f = bpf_map_lookup_elem(&flows, &slot);

	return f && now - f->seen >= flow_ttl(cfg, f->proto);
}

static __always_inline void flow_store(__u32 slot, struct iphdr *iph, struct ports *ports,
				       __u32 now, __u32 svc_id, __u32 backend_idx,
				       __be32 backend_ip)
{
	struct flow *f = bpf_map_lookup_elem(&flows, &slot);

	if (!f)
		return;
	f->saddr = iph->saddr;
	f->daddr = iph->daddr;
	f->sport = ports->src;
	f->dport = ports->dst;
	f->proto = iph->protocol;
	f->backend = backend_idx;
	f->backend_ip = backend_ip;
	f->seen = now;
	f->svc_id = svc_id;
}

/* Path MTU discovery: answer "fragmentation needed" (RFC 792/1191) to the
 * client, quoting its IP header and 8 bytes, from the VIP it addressed. */
static __always_inline int send_frag_needed(struct xdp_md *ctx, __u32 mtu)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	__u8 client_mac[ETH_ALEN], our_mac[ETH_ALEN];
	__builtin_memcpy(client_mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(our_mac, eth->h_dest, ETH_ALEN);

	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(struct iphdr) + ICMP_HDR_LEN)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	__u32 quoted = sizeof(struct iphdr) + 8;
	__u32 keep = sizeof(struct ethhdr) + sizeof(struct iphdr) + ICMP_HDR_LEN + quoted;
	if (data + keep > data_end)
		return -1;
	if (bpf_xdp_adjust_tail(ctx, (int)keep - (int)(data_end - data)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u8 *icmp = (void *)(ip + 1);
	struct iphdr *orig = (void *)(icmp + ICMP_HDR_LEN);
	if ((void *)orig + quoted > data_end)
		return -1;

	__builtin_memcpy(eth->h_dest, client_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, our_mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0xc0; /* internetwork control, as the kernel sends ICMP errors */
	ip->tot_len = bpf_htons(sizeof(*ip) + ICMP_HDR_LEN + quoted);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = IPIP_TTL;
	ip->protocol = IPPROTO_ICMP;
	ip->saddr = orig->daddr;
	ip->daddr = orig->saddr;
	ip->check = 0;
	ip->check = ip_checksum(ip);

	icmp[0] = ICMP_DEST_UNREACH;
	icmp[1] = ICMP_FRAG_NEEDED;
	*(__u16 *)&icmp[2] = 0;
	*(__u16 *)&icmp[4] = 0;
	*(__be16 *)&icmp[6] = bpf_htons(mtu - sizeof(struct iphdr));
	__u16 sum = csum_fold(icmp, ICMP_HDR_LEN + quoted, data_end);
	/* The loop's exits leave the verifier without the earlier bound. */
	if ((void *)(icmp + 4) > data_end)
		return -1;
	*(__u16 *)&icmp[2] = sum;
	return 0;
}
#endif

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
#ifndef L4LB_OFFLOAD
	__u32 now = (__u32)bpf_jiffies64();
	/* The bucket takes the hash's top bits, the fingerprint 7 bits below
	 * them (never 0); the ring (reduce) takes the top bits too, so flows that
	 * share a bucket share a backend, which costs nothing. */
	__u32 bucket = (hash >> (32 - FLOW_SLOTS_LOG2)) & ~1u; /* first of its 2 ways */
	__u8 fp = ((hash >> 6) & 0x7f) | 1;
	__u32 tag_idx = bucket / FLOW_TAGS_PER_ENTRY;
	/* A SYN opens a connection: no entry can be its own, so it leaves the
	 * tags alone and spares their cache miss (a SYN flood costs least).
	 * Its connection is stored from its third packet. */
	__u8 *tcp_flags = (__u8 *)ports + TCP_FLAGS_OFF;
	int syn = iph->protocol == IPPROTO_TCP && (void *)(tcp_flags + 1) <= data_end &&
		  (*tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
	struct flow_tags *tags = syn ? NULL : bpf_map_lookup_elem(&flow_tags, &tag_idx);
	__u8 *tag = NULL;
	__u32 flow_slot = bucket;
	__u32 flow_stat = syn ? FLOW_NEW : FLOW_UNTRACKED;
	if (tags) {
		__u8 *tg = &tags->t[bucket & (FLOW_TAGS_PER_ENTRY - 2)];
		__u8 t0 = tg[0], t1 = tg[1];
		__u32 way = 2;
		struct flow *f = NULL;
		if (t0 == fp)
			f = flow_find(bucket, iph, ports);
		if (f)
			way = 0;
		else if (t1 == fp && (f = flow_find(bucket + 1, iph, ports)))
			way = 1;
		if (f) {
			be = flow_hit(f, now, &backend_idx);
			if (be) {
				flow_count(FLOW_HIT);
				goto forward;
			}
			flow_stat = FLOW_STALE;
		} else if (t0 == (fp | FLOW_TAG_PENDING)) {
			way = 0;
			flow_stat = FLOW_STORED;
		} else if (t1 == (fp | FLOW_TAG_PENDING)) {
			way = 1;
			flow_stat = FLOW_STORED;
		} else {
			/* A first packet: an empty way, else one another flow only
			 * marked, else (both store live flows: they keep them) none.
			 * Chosen by arithmetic, not branches: whether a way is taken is
			 * random, and a mispredicted branch on a tag that missed the
			 * cache would throw away the work done meanwhile. */
			__u32 s0 = tag_stored(t0), s1 = tag_stored(t1);
			way = s0 | (~s1 & ~tag_empty(t0) & tag_empty(t1) & 1);
			flow_stat = FLOW_NEW;
			if (s0 & s1) {
				if (flow_expired(bucket, cfg, now))
					way = 0;
				else if (flow_expired(bucket + 1, cfg, now))
					way = 1;
				else
					way = 2;
				if (way == 2)
					flow_stat = FLOW_UNTRACKED;
			}
		}
		if (way < 2) {
			tag = &tg[way];
			flow_slot = bucket + way;
		}
	}
#endif

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

	/* One load: the flip may rewrite the entry at any moment, and chunk and
	 * size must come from the same ring. */
	__u64 ring = *(volatile __u64 *)&live->ring_chunk;
	__u32 ring_chunk = (__u32)ring;
	__u32 ring_size = ring >> 32;
	if (ring_size > RING_MAX_SLOTS)
		DROP(R_DROP_NO_BACKEND);

	/* The NFP build has no flow table (no clock on the NIC): flows keep
	 * their backend through consistent hashing alone. */
	be = ring_pick(ring_chunk, ring_size, hash, &backend_idx);
	if (!be || !be->ip)
		DROP(R_DROP_NO_BACKEND);
#ifndef L4LB_OFFLOAD
	if (tag && flow_stat == FLOW_NEW) {
		*tag = fp | FLOW_TAG_PENDING;
	} else if (tag && flow_stat != FLOW_UNTRACKED) {
		flow_store(flow_slot, iph, ports, now, svc_id, backend_idx, be->ip);
		*tag = fp;
	}
	flow_count(flow_stat);
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
