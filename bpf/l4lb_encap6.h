/* What a balanced IPv6 packet becomes on the wire: ip6ip6 to its backend
 * (RFC 2473), or, when that would not fit the link, ICMPv6 Packet Too Big
 * back to the client (RFC 4443): IPv6 is never fragmented on the way. */
#ifndef L4LB_ENCAP6_H
#define L4LB_ENCAP6_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"
#include "l4lb_parse6.h"
#include "l4lb_encap.h"

#ifndef L4LB_OFFLOAD
#define ICMP6_PKT_TOO_BIG 2
#define ICMP6_HDR_LEN 8
/* Quoted: the client's IPv6 header and 8 bytes, the ports and TCP's
 * sequence number, which is what the client's kernel reads to find the
 * socket and check the error is about data it sent. */
#define PTB_QUOTED (sizeof(struct ipv6hdr) + 8)
#define PTB_LEN (ICMP6_HDR_LEN + PTB_QUOTED)

/* The ICMPv6 checksum of the message after ip6: the pseudo-header (both
 * addresses, the length, the next header) and PTB_LEN bytes, summed as
 * loaded: the one's-complement sum does not care about byte order. */
static __always_inline __u16 icmp6_csum(struct ipv6hdr *ip6, void *data_end)
{
	__u16 *w = (__u16 *)&ip6->saddr;
	__u32 sum = bpf_htons(PTB_LEN) + bpf_htons(IPPROTO_ICMPV6);

	if ((void *)(ip6 + 1) + PTB_LEN > data_end)
		return 0;
#pragma unroll
	for (int i = 0; i < 16; i++)
		sum += w[i];
	w = (__u16 *)(ip6 + 1);
#pragma unroll
	for (int i = 0; i < (int)(PTB_LEN / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Packet Too Big to the client, from the VIP it addressed, the frame cut to
 * the quote.  0 when done; the packet is unusable after a failure. */
static __always_inline int send_pkt_too_big(struct xdp_md *ctx, __u32 mtu)
{
	__u32 keep = sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + PTB_LEN;

	if (turn_around(ctx, sizeof(struct ipv6hdr) + ICMP6_HDR_LEN, keep, bpf_htons(ETH_P_IPV6)))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	__u8 *icmp = (void *)(ip6 + 1);
	struct ipv6hdr *orig = (void *)(icmp + ICMP6_HDR_LEN);
	if ((void *)orig + PTB_QUOTED > data_end)
		return -1;

	*(__be32 *)ip6 = bpf_htonl(6u << 28);
	ip6->payload_len = bpf_htons(PTB_LEN);
	ip6->nexthdr = IPPROTO_ICMPV6;
	ip6->hop_limit = IP6_HOP_LIMIT;
	addr6_copy(&ip6->saddr, &orig->daddr);
	addr6_copy(&ip6->daddr, &orig->saddr);
	icmp[0] = ICMP6_PKT_TOO_BIG;
	icmp[1] = 0;
	*(__u16 *)&icmp[2] = 0;
	*(__be32 *)&icmp[4] = bpf_htonl(mtu - sizeof(struct ipv6hdr));
	*(__u16 *)&icmp[2] = icmp6_csum(ip6, data_end);
	return 0;
}

/* Wrap the packet in an outer IPv6 header to the backend, with the Ethernet
 * addresses of the hop to it.  The traffic class is the inner one (RFC 2473
 * 6.5), the flow label the flow's hash (RFC 6438: ECMP on the way keeps a
 * flow on one path).  0 when done; the packet is unusable after a failure. */
static __always_inline int encap_ip6ip6(struct xdp_md *ctx, const struct packet6 *p, __u32 hash,
					const struct backend *be, const struct backend6 *dst,
					const struct config *cfg, const struct config6 *c6)
{
	__u32 tclass = (bpf_ntohl(*(__be32 *)p->ip6) >> 20) & 0xff;
	__u16 inner_len = p->payload_len + sizeof(struct ipv6hdr);

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct ipv6hdr)))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *outer = (void *)(eth + 1);
	if ((void *)(outer + 1) > data_end)
		return -1;

	/* Word by word, as addr6_copy: the MACs sit 4-byte aligned in both
	 * entries, and byte copies cost 24 instructions. */
	*(__u32 *)eth->h_dest = *(const __u32 *)be->mac;
	*(__u16 *)&eth->h_dest[4] = *(const __u16 *)&be->mac[4];
	*(__u32 *)eth->h_source = *(const __u32 *)cfg->ifmac;
	*(__u16 *)&eth->h_source[4] = *(const __u16 *)&cfg->ifmac[4];
	eth->h_proto = bpf_htons(ETH_P_IPV6);
	*(__be32 *)outer = bpf_htonl(6u << 28 | tclass << 20 | (hash & 0xfffff));
	outer->payload_len = bpf_htons(inner_len);
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = IP6_HOP_LIMIT;
	addr6_copy(&outer->saddr, c6->saddr6);
	addr6_copy(&outer->daddr, dst->ip6);
	return 0;
}
#endif

#endif
