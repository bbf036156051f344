/* What a balanced packet becomes on the wire: IPIP to its backend, or,
 * when that would not fit the link, ICMP "fragmentation needed" back to the
 * client. */
#ifndef L4LB_ENCAP_H
#define L4LB_ENCAP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"
#include "l4lb_parse.h"

#ifndef L4LB_OFFLOAD
/* Turn the frame into an answer to its sender (ICMP errors, both families):
 * `grow` bytes of new headers in front of the packet, the whole cut to
 * `keep` bytes, the Ethernet addresses swapped and the type `proto`.  0 when
 * done; the packet is unusable after a failure. */
static __always_inline int turn_around(struct xdp_md *ctx, int grow, __u32 keep, __be16 proto)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	__u8 client_mac[ETH_ALEN], our_mac[ETH_ALEN];
	__builtin_memcpy(client_mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(our_mac, eth->h_dest, ETH_ALEN);

	if (bpf_xdp_adjust_head(ctx, -grow))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + keep > data_end)
		return -1;
	if (bpf_xdp_adjust_tail(ctx, (int)keep - (int)(data_end - data)))
		return -1;
	eth = (void *)(long)ctx->data;
	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, client_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, our_mac, ETH_ALEN);
	eth->h_proto = proto;
	return 0;
}

/* Path MTU discovery: answer "fragmentation needed" (RFC 792/1191) to the
 * client, quoting its IP header and 8 bytes, from the VIP it addressed. */
static __always_inline int send_frag_needed(struct xdp_md *ctx, __u32 mtu)
{
	__u32 quoted = sizeof(struct iphdr) + 8;
	__u32 keep = sizeof(struct ethhdr) + sizeof(struct iphdr) + ICMP_HDR_LEN + quoted;

	if (turn_around(ctx, sizeof(struct iphdr) + ICMP_HDR_LEN, keep, bpf_htons(ETH_P_IP)))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u8 *icmp = (void *)(ip + 1);
	struct iphdr *orig = (void *)(icmp + ICMP_HDR_LEN);
	if ((void *)orig + quoted > data_end)
		return -1;

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

/* Wrap the packet in an outer IPv4 header to the backend, with the Ethernet
 * addresses of the hop to it.  Outer fields that come from the inner header
 * (RFC 2003, 6864): DSCP/ECN and DF are copied; an atomic (DF) datagram needs
 * no ID, and a fragmentable one keeps the inner ID, unique per inner flow.
 * 0 when done; the packet is unusable after a failure. */
static __always_inline int encap_ipip(struct xdp_md *ctx, struct iphdr *iph, __u16 tot_len,
				      const struct backend *be, const struct config *cfg)
{
	__u8 tos = iph->tos;
	__be16 df = iph->frag_off & bpf_htons(IP_DF);
	__be16 id = df ? 0 : iph->id;

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer = (void *)(eth + 1);
	if ((void *)(outer + 1) > data_end)
		return -1;

	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->ifmac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

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
	return 0;
}

#endif
