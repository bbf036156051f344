/* IPv6 header checks and the v6 5-tuple's hash (the v4 ones: l4lb_parse.h). */
#ifndef L4LB_PARSE6_H
#define L4LB_PARSE6_H

#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include "l4lb_consts.h"
#include "l4lb_parse.h"

#define NEXTHDR_MOBILITY 135
#define NEXTHDR_HIP 139
#define NEXTHDR_SHIM6 140
#define NEXTHDR_EXP1 253
#define NEXTHDR_EXP2 254

/* What the headers of an IPv6 packet to balance say. */
struct packet6 {
	struct ipv6hdr *ip6;
	struct ports *ports;
	__u64 frame_len;
	__u16 payload_len;
	__u8 tcp_flags; /* 0 for UDP */
};

/* A v6 address folded to 32 bits, the xor of its words as loaded: the VIP
 * filter's and the hash's view of it.  Mirrored in abi6.addr6_fold. */
static __always_inline __u32 addr6_fold(const void *addr)
{
	const __u32 *w = addr;

	return w[0] ^ w[1] ^ w[2] ^ w[3];
}

/* Copy a v6 address in two 8-byte words.  __builtin_memcpy of a __u8[16]
 * compiles to 16 byte loads and 16 byte stores (alignment 1): 64
 * instructions per address on the per-packet path.  The packet's addresses
 * are 2-byte aligned, which x86's JIT and the verifier accept for packet and
 * map values; a stack side must be 8-byte aligned (the verifier is strict
 * there). */
static __always_inline void addr6_copy(void *dst, const void *src)
{
	((__u64 *)dst)[0] = ((const __u64 *)src)[0];
	((__u64 *)dst)[1] = ((const __u64 *)src)[1];
}

/* The IPv6 header's place, Ethernet being known to say IPv6.  A frame that
 * ends inside the fixed header cannot be shown to be for a VIP (IPv4's drop
 * of a truncated header predates that rule): the kernel judges it. */
static __always_inline __u32 parse6_l3(struct xdp_md *ctx, struct packet6 *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	p->frame_len = data_end - data;
	p->ip6 = data + sizeof(struct ethhdr);
	if ((void *)(p->ip6 + 1) > data_end)
		return R_PASS_NOT_VIP;
	return R_BALANCE;
}

/* Next headers that are extension headers (RFC 8200 and the IANA list),
 * the fragment header apart. */
static __always_inline int is_ext_header(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_AH || nh == NEXTHDR_MOBILITY || nh == NEXTHDR_HIP ||
	       nh == NEXTHDR_SHIM6 || nh == NEXTHDR_EXP1 || nh == NEXTHDR_EXP2;
}

/* As parse_l4: R_BALANCE for TCP or UDP right after the fixed header; a
 * pass reason for what the kernel should have (fragments, extension
 * headers, ICMPv6 and other protocols); a drop reason for a packet that is
 * malformed or ends too soon. */
static __always_inline __u32 parse6_l4(struct xdp_md *ctx, struct packet6 *p)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = p->ip6;
	__u32 l4_len;

	if ((void *)(ip6 + 1) > data_end)
		return R_DROP_TRUNCATED;
	if (ip6->version != 6)
		return R_DROP_MALFORMED;
	p->payload_len = bpf_ntohs(ip6->payload_len);
	if ((void *)(ip6 + 1) + p->payload_len > data_end)
		return R_DROP_MALFORMED;
	if (ip6->nexthdr == IPPROTO_TCP)
		l4_len = 20;
	else if (ip6->nexthdr == IPPROTO_UDP)
		l4_len = 8;
	else if (ip6->nexthdr == IPPROTO_FRAGMENT)
		return R_PASS_FRAGMENT;
	else
		return is_ext_header(ip6->nexthdr) ? R_PASS_IPV6_EXT : R_PASS_NOT_TCP_UDP;
	p->ports = (void *)(ip6 + 1);
	if ((void *)(ip6 + 1) + l4_len > data_end || p->payload_len < l4_len)
		return R_DROP_TRUNCATED;
	__u8 *flags = (__u8 *)p->ports + TCP_FLAGS_OFF;
	p->tcp_flags = 0;
	if (ip6->nexthdr == IPPROTO_TCP && (void *)(flags + 1) <= data_end)
		p->tcp_flags = *flags;
	return R_BALANCE;
}

/* The v4 hash over the folded addresses: the ring and the flow table see v6
 * flows as they see v4 ones. */
static __always_inline __u32 flow_hash6(const struct packet6 *p)
{
	return flow_hash(addr6_fold(&p->ip6->saddr), *(__u32 *)p->ports,
			 addr6_fold(&p->ip6->daddr), p->ip6->nexthdr);
}

#endif
