/* Path-MTU discovery through the balancer.  Backends answer clients
 * directly from the VIP (DSR), so a router on the way back that cannot
 * forward a reply sends its ICMP "fragmentation needed" (IPv6: Packet Too
 * Big) to the VIP, which is here.  Kept by this host's kernel, the backend
 * never lowers its path MTU and a client behind a smaller MTU waits for data
 * that never fits.  So the error goes on to the backend of the flow it
 * quotes: the quoted packet is the backend's reply (VIP:port to the client),
 * reversed it is the client's flow, found in the flow table as its packets
 * find it, else on its service's ring.  Read only: the error changes no
 * entry.  Included by l4lb_xdp.c after verdict() and choose(). */
#ifndef L4LB_ICMP_H
#define L4LB_ICMP_H

#ifndef L4LB_OFFLOAD

/* The backend of a stored flow given by value, without touching its entry. */
static __always_inline struct backend *flow_peek(__be32 saddr, __be32 daddr, __u32 ports,
						 __u8 proto, __u32 hash, struct config *cfg,
						 __u32 *backend_idx)
{
	__u32 bucket;
	__u8 fp;
	__u8 *tg = bucket_tags(&flow_tags, (cfg->flags >> CFG_FLOW_LOG2_SHIFT) & CFG_FLOW_LOG2_MASK,
			       FLOW_SLOTS_LOG2, hash, &bucket, &fp);

	for (__u32 way = 0; tg && way < 2; way++) {
		__u32 slot = bucket + way;
		struct flow *f;

		if (tg[way] != fp || !(f = bpf_map_lookup_elem(&flows, &slot)))
			continue;
		if (f->saddr == saddr && f->daddr == daddr && *(__u32 *)&f->sport == ports &&
		    f->proto == proto)
			return flow_backend(f->svc_id, f->backend, f->backend_ip, backend_idx, 0);
	}
	return NULL;
}

/* The backend of the flow an ICMP "fragmentation needed" to a VIP quotes,
 * or NULL: another ICMP message, a quote that is not a service's reply. */
static __always_inline struct backend *quoted_backend(struct xdp_md *ctx, struct packet *p,
						      struct config *cfg, __u32 *backend_idx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct icmp_head *icmp = (void *)(p->iph + 1);
	struct iphdr *in = (void *)(icmp + 1);
	struct ports *q = (void *)(in + 1);

	if (p->iph->protocol != IPPROTO_ICMP || (void *)(q + 1) > data_end)
		return NULL;
	if (icmp->type != ICMP_DEST_UNREACH || icmp->code != ICMP_FRAG_NEEDED)
		return NULL;
	if (in->ihl != 5 || in->saddr != p->iph->daddr ||
	    (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP))
		return NULL;
	/* The client's flow: from the quote's destination to its source. */
	__be32 client = in->daddr, vip = in->saddr;
	__u32 ports = (__u32)q->dst | (__u32)q->src << 16; /* as *(__u32 *)ports loads them */
	__u32 hash = flow_hash(client, ports, vip, in->protocol);
	struct backend *be = flow_peek(client, vip, ports, in->protocol, hash, cfg, backend_idx);

	if (be)
		return be;
	struct svc_slot *svc = find_service(vip, q->src, in->protocol, cfg->flags);
	if (!svc)
		return NULL;
	__u32 svc_id = svc->id;
	struct svc_live *live = bpf_map_lookup_elem(&svc_live, &svc_id);
	struct flow_miss ring_only = {.stat = FLOW_UNTRACKED};

	return live ? choose(live, svc_id, hash, &ring_only, 0, backend_idx) : NULL;
}

/* The error wrapped in IPIP to that backend, as the flow's packets are;
 * anything else ICMP to a VIP goes to the kernel, as before. */
static __always_inline int icmp_to_backend(struct xdp_md *ctx, struct packet *p,
					   struct config *cfg)
{
	__u32 backend_idx = 0;
	struct backend *be = quoted_backend(ctx, p, cfg, &backend_idx);

	if (!be || (cfg->mtu && p->tot_len + sizeof(struct iphdr) > cfg->mtu))
		return verdict(R_PASS_NOT_TCP_UDP, p->frame_len);
	if (encap_ipip(ctx, p->iph, p->tot_len, be, cfg))
		return verdict(R_DROP_ADJUST_HEAD, p->frame_len);
	count(R_ICMP_TO_BACKEND, &reasons, p->frame_len);
	return XDP_TX;
}

#endif
#endif
