/* Packet parsing and header arithmetic for the balancer. */
#ifndef L4LB_PARSE_H
#define L4LB_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include "l4lb_consts.h"

#define IP_MF 0x2000
#define IP_DF 0x4000
#define IP_OFFSET 0x1fff
#define ICMP_HDR_LEN 8
#define TCP_FLAGS_OFF 13
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10
#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4

struct ports {
	__be16 src;
	__be16 dst;
};

/* An ICMP or ICMPv6 error's header, before the packet it quotes. */
struct icmp_head {
	__u8 type;
	__u8 code;
	__be16 csum;
	__be32 rest; /* frag needed: unused and the next hop's MTU; PTB: the MTU */
};

/* What the headers of a packet to balance say. */
struct packet {
	struct iphdr *iph;
	struct ports *ports;
	__u64 frame_len;
	__u16 tot_len;
	__u8 tcp_flags; /* 0 for UDP */
};

/* Ethernet and the IPv4 header's place.  R_BALANCE if there is an IPv4
 * header to read, else the reason the frame is not for us. */
static __always_inline __u32 parse_l3(struct xdp_md *ctx, struct packet *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	p->frame_len = data_end - data;
	if ((void *)(eth + 1) > data_end)
		return R_DROP_TRUNCATED;
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
#ifndef L4LB_OFFLOAD
		if (eth->h_proto == bpf_htons(ETH_P_IPV6))
			return R_IPV6;
#endif
		if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD) ||
		    eth->h_proto == bpf_htons(ETH_P_QINQ1))
			return R_PASS_VLAN;
		return R_PASS_NOT_IPV4;
	}
	p->iph = (void *)(eth + 1);
	if ((void *)(p->iph + 1) > data_end)
		return R_DROP_TRUNCATED;
	return R_BALANCE;
}

/* The IPv4 header judged strictly, and the ports.  R_BALANCE for a TCP or
 * UDP packet that can be balanced; a pass reason for what the kernel should
 * have (fragments, options, other protocols); a drop reason for a packet
 * that is malformed or ends too soon. */
static __always_inline __u32 parse_l4(struct xdp_md *ctx, struct packet *p)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = p->iph;
	__u32 l4_len;

	if ((void *)(iph + 1) > data_end)
		return R_DROP_TRUNCATED;
	if (iph->version != 4 || iph->ihl < 5)
		return R_DROP_MALFORMED;
	p->tot_len = bpf_ntohs(iph->tot_len);
	if (p->tot_len < sizeof(*iph) || (void *)iph + p->tot_len > data_end)
		return R_DROP_MALFORMED;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return R_PASS_FRAGMENT;
	if (iph->ihl != 5)
		return R_PASS_IP_OPTIONS;
	if (iph->protocol == IPPROTO_TCP)
		l4_len = 20;
	else if (iph->protocol == IPPROTO_UDP)
		l4_len = 8;
	else
		return R_PASS_NOT_TCP_UDP;
	p->ports = (void *)(iph + 1);
	if ((void *)(iph + 1) + l4_len > data_end || p->tot_len < sizeof(*iph) + l4_len)
		return R_DROP_TRUNCATED;
	__u8 *flags = (__u8 *)p->ports + TCP_FLAGS_OFF;
	p->tcp_flags = 0;
	if (iph->protocol == IPPROTO_TCP && (void *)(flags + 1) <= data_end)
		p->tcp_flags = *flags;
	return R_BALANCE;
}

/* The 5-tuple's hash, for the ring and the flow table: each word multiplied
 * by its own odd constant, then one xor-shift-multiply round, which carries
 * the low bits (neighbouring source ports, the usual difference between two
 * flows of one client) into the top bits the ring and the table use.  A few
 * ns cheaper than Murmur3's full mix, on every packet. */
static __always_inline __u32 flow_hash(__u32 saddr, __u32 ports, __u32 daddr, __u8 proto)
{
	__u32 h = saddr * 0x9E3779B1u ^ ports * 0x85EBCA6Bu ^ daddr * 0xC2B2AE35u ^ proto;

	return (h ^ (h >> 15)) * 0x2C1B3C6Du;
}

/* Lemire's multiply-shift maps a 32-bit hash onto [0, size) without a
 * division, which neither the JIT nor the NFP does cheaply. */
static __always_inline __u32 reduce(__u32 hash, __u32 size)
{
	return (__u32)(((__u64)hash * size) >> 32);
}

static __always_inline __u16 ip_checksum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* One's-complement sum of `len` bytes (even, bounded) at p. */
static __always_inline __u16 csum_fold(void *p, __u32 len, void *data_end)
{
	__u32 sum = 0;
	__u16 *w = p;

#pragma unroll
	for (int i = 0; i < 32; i++) {
		if ((__u32)i * 2 >= len || (void *)(w + i + 1) > data_end)
			break;
		sum += w[i];
	}
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

#endif
