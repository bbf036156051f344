/* Path-MTU discovery through the balancer, IPv6: a router's Packet Too Big
 * about a backend's reply goes on to that backend (l4lb_icmp.h tells why).
 * IPv6 routers never fragment, so without it a client behind a smaller MTU
 * than the backends' gets no data at all.  Included by l4lb_v6.h. */
#ifndef L4LB_ICMP6_H
#define L4LB_ICMP6_H

#ifndef L4LB_OFFLOAD

/* The backend of a stored v6 flow, without touching its entry. */
static __always_inline struct backend *flow6_peek(const struct packet6 *q, __u32 hash,
						  struct config *cfg, __u32 *backend_idx)
{
	__u32 bucket;
	__u8 fp;
	__u8 *tg = bucket_tags(&flow6_tags, (cfg->flags >> CFG_FLOW6_LOG2_SHIFT) & CFG_FLOW6_LOG2_MASK,
			       FLOW6_SLOTS_LOG2, hash, &bucket, &fp);

	for (__u32 way = 0; tg && way < 2; way++) {
		struct flow6 *f;

		if (tg[way] == fp && (f = flow6_find(bucket + way, q)))
			return flow_backend(f->svc_id, f->backend, f->backend_ip, backend_idx, 0);
	}
	return NULL;
}

/* The backend of the flow a Packet Too Big to a VIP quotes (NULL: another
 * message, or a quote that is not a service's reply), and the flow's hash. */
static __always_inline struct backend *quoted_backend6(struct xdp_md *ctx, struct packet6 *p,
						       struct config *cfg, __u32 *hash,
						       __u32 *backend_idx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct icmp_head *icmp = (void *)(p->ip6 + 1);
	struct ipv6hdr *in = (void *)(icmp + 1);
	struct ports *quoted = (void *)(in + 1);

	if (p->ip6->nexthdr != IPPROTO_ICMPV6 || (void *)(quoted + 1) > data_end)
		return NULL;
	if (icmp->type != ICMP6_PKT_TOO_BIG || icmp->code != 0)
		return NULL;
	if (in->nexthdr != IPPROTO_TCP && in->nexthdr != IPPROTO_UDP)
		return NULL;
	const __u64 *vip = (const __u64 *)&in->saddr, *to = (const __u64 *)&p->ip6->daddr;
	if (vip[0] != to[0] || vip[1] != to[1])
		return NULL;
	/* The client's flow, reversed from the quote, as its packets are seen;
	 * 8-byte aligned for addr6_copy's and flow6_is's loads. */
	struct ipv6hdr flow __attribute__((aligned(8))) = {};
	struct ports ports = {.src = quoted->dst, .dst = quoted->src};
	struct packet6 q = {.ip6 = &flow, .ports = &ports};

	addr6_copy(&flow.saddr, &in->daddr);
	addr6_copy(&flow.daddr, &in->saddr);
	flow.nexthdr = in->nexthdr;
	*hash = flow_hash6(&q);
	struct backend *be = flow6_peek(&q, *hash, cfg, backend_idx);
	if (be)
		return be;
	__u32 svc_id = find_service6(&q);
	struct svc_live *live = svc_id ? bpf_map_lookup_elem(&svc_live, &svc_id) : NULL;
	if (!live)
		return NULL;
	__u64 ring = *(volatile __u64 *)&live->ring_chunk; /* one load: see choose() */
	__u32 ring_size = ring >> 32;
	if (ring_size > RING_MAX_SLOTS)
		return NULL;
	be = ring_pick((__u32)ring, ring_size, *hash, backend_idx);
	return be && be->ip ? be : NULL;
}

/* The Packet Too Big wrapped in ip6ip6 to that backend, as the flow's
 * packets are; any other ICMPv6 to a VIP goes to the kernel, as before. */
static __always_inline int icmp6_to_backend(struct xdp_md *ctx, struct packet6 *p,
					    struct config *cfg)
{
	__u32 zero = 0, hash = 0, backend_idx = 0;
	struct backend *be = quoted_backend6(ctx, p, cfg, &hash, &backend_idx);

	if (!be || (cfg->mtu && p->payload_len + 2 * sizeof(struct ipv6hdr) > cfg->mtu))
		return verdict(R_PASS_NOT_TCP_UDP, p->frame_len);
	struct backend6 *dst = bpf_map_lookup_elem(&backend6, &backend_idx);
	struct config6 *c6 = bpf_map_lookup_elem(&config6, &zero);
	if (!dst || !c6)
		return verdict(R_PASS_NOT_TCP_UDP, p->frame_len); /* unreachable: fixed arrays */
	if (encap_ip6ip6(ctx, p, hash, be, dst, cfg, c6))
		return verdict(R_DROP_ADJUST_HEAD, p->frame_len);
	count(R_ICMP_TO_BACKEND, &reasons, p->frame_len);
	return XDP_TX;
}

#endif
#endif
