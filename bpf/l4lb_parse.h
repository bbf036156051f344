/* Packet parsing and header arithmetic for the balancer. */
#ifndef L4LB_PARSE_H
#define L4LB_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>

#define IP_MF 0x2000
#define IP_DF 0x4000
#define IP_OFFSET 0x1fff
#define ICMP_HDR_LEN 8
#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4

struct ports {
	__be16 src;
	__be16 dst;
};

/* Murmur3's mixing steps: cheap, and spreads neighbouring source ports (the
 * usual difference between two flows from one client) over the whole ring. */
static __always_inline __u32 flow_hash(__u32 saddr, __u32 ports)
{
	__u32 h = saddr * 0xcc9e2d51u;

	h = ((h << 15) | (h >> 17)) * 0x1b873593u;
	h ^= ports;
	h = ((h << 13) | (h >> 19)) * 5 + 0xe6546b64u;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
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
