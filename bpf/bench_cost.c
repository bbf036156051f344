// SPDX-License-Identifier: BSD-2-Clause
/* `l4lb bench dataplane`: what each piece of a balancer costs.
 *
 * Every program here is the MAC-swap reflector of bench_refl.c plus exactly
 * one piece of work the balancer does per packet, shaped like the balancer's
 * own (same map types, sizes and value sizes).  Timed through the wrapper in
 * the same rounds as the reflector, the difference is that piece's price.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "bench_reflect.h"

struct cost_val20 {
	__u32 w[5];
};

struct cost_counters {
	__u64 pkts;
	__u64 bytes;
};

struct cost_flow {
	__u64 w[4];
};

#define BIG_SLOTS (1u << 19)
#define TAG_LINES (BIG_SLOTS / 64)

struct cost_tags {
	__u8 t[64];
};

/* A 512-entry hash keyed by an IPv4 address: the price of the hash maps
 * (services, vips) the balancer used to look up per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __be32);
	__type(value, __u32);
} cost_hash SEC(".maps");

/* Like backends: an array the verifier inlines lookups of. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct cost_val20);
} cost_array SEC(".maps");

/* Like backend_stats: per-CPU packet and byte counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct cost_counters);
} cost_pcpu SEC(".maps");

/* Like flow_tags: 512 KiB of one-byte tags, 64 to an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TAG_LINES);
	__type(key, __u32);
	__type(value, struct cost_tags);
} cost_tag SEC(".maps");

/* Like flows: 2^19 slots of 32 bytes (16 MiB), indexed by a flow hash. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BIG_SLOTS);
	__type(key, __u32);
	__type(value, struct cost_flow);
} cost_big SEC(".maps");

static __always_inline struct iphdr *ipv4(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);

	if ((void *)(iph + 1) + 4 > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	return iph;
}

static __always_inline __u32 mix(__u32 a, __u32 b)
{
	__u32 h = a * 0xcc9e2d51u;

	h = ((h << 15) | (h >> 17)) * 0x1b873593u ^ b;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

#define DATA(ctx) ((void *)(long)(ctx)->data)
#define END(ctx) ((void *)(long)(ctx)->data_end)

SEC("xdp")
int cost_hash_lookup(struct xdp_md *ctx)
{
	struct iphdr *iph = ipv4(DATA(ctx), END(ctx));

	if (!iph || !bpf_map_lookup_elem(&cost_hash, &iph->daddr))
		return XDP_DROP; /* the bench puts the destination in: a hit */
	return reflect(DATA(ctx), END(ctx));
}

SEC("xdp")
int cost_array_lookup(struct xdp_md *ctx)
{
	struct iphdr *iph = ipv4(DATA(ctx), END(ctx));

	if (!iph)
		return XDP_DROP;
	__u32 key = bpf_ntohl(iph->saddr) & 4095;
	struct cost_val20 *v = bpf_map_lookup_elem(&cost_array, &key);

	if (!v || v->w[0] == 0xffffffff)
		return XDP_DROP;
	return reflect(DATA(ctx), END(ctx));
}

SEC("xdp")
int cost_percpu_count(struct xdp_md *ctx)
{
	__u32 key = 7;
	struct cost_counters *c = bpf_map_lookup_elem(&cost_pcpu, &key);

	if (!c)
		return XDP_DROP;
	c->pkts += 1;
	c->bytes += END(ctx) - DATA(ctx);
	return reflect(DATA(ctx), END(ctx));
}

SEC("xdp")
int cost_ktime(struct xdp_md *ctx)
{
	if ((bpf_ktime_get_coarse_ns() >> 30) == 0xffffffff)
		return XDP_DROP;
	return reflect(DATA(ctx), END(ctx));
}

/* The flow table's access: read a slot picked by a hash of the flow, write
 * it.  With one repeated flow it stays in cache; with a new flow per packet
 * every packet misses cache (and TLB): the price of a large table. */
SEC("xdp")
int cost_big_table(struct xdp_md *ctx)
{
	struct iphdr *iph = ipv4(DATA(ctx), END(ctx));

	if (!iph)
		return XDP_DROP;
	__u32 ports = *(__u32 *)(iph + 1);
	__u32 key = mix(iph->saddr, ports) & (BIG_SLOTS - 1);
	struct cost_flow *f = bpf_map_lookup_elem(&cost_big, &key);

	if (!f)
		return XDP_DROP;
	if (f->w[0] != iph->saddr) {
		f->w[0] = iph->saddr;
		f->w[1] = ports;
	}
	return reflect(DATA(ctx), END(ctx));
}

/* The flow tags' access: read the tag a hash of the flow picks, write it. */
SEC("xdp")
int cost_tag_byte(struct xdp_md *ctx)
{
	struct iphdr *iph = ipv4(DATA(ctx), END(ctx));

	if (!iph)
		return XDP_DROP;
	__u32 slot = mix(iph->saddr, *(__u32 *)(iph + 1)) & (BIG_SLOTS - 1);
	__u32 line = slot / 64;
	struct cost_tags *t = bpf_map_lookup_elem(&cost_tag, &line);

	if (!t)
		return XDP_DROP;
	__u8 *tag = &t->t[slot & 63];
	if (*tag != (__u8)iph->saddr)
		*tag = (__u8)iph->saddr;
	return reflect(DATA(ctx), END(ctx));
}

/* IPIP encapsulation as the balancer does it: 20 bytes of headroom, a new
 * Ethernet and outer IPv4 header, its checksum; instead of the MAC swap. */
SEC("xdp")
int cost_encap(struct xdp_md *ctx)
{
	struct iphdr *in = ipv4(DATA(ctx), END(ctx));

	if (!in)
		return XDP_DROP;
	__u16 tot = bpf_ntohs(in->tot_len);
	__u8 tos = in->tos;

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return XDP_DROP;
	struct ethhdr *eth = DATA(ctx);
	struct iphdr *out = (void *)(eth + 1);

	if ((void *)(out + 1) > END(ctx))
		return XDP_DROP;
	__builtin_memset(eth->h_dest, 0x02, ETH_ALEN);
	__builtin_memset(eth->h_source, 0x04, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	out->version = 4;
	out->ihl = 5;
	out->tos = tos;
	out->tot_len = bpf_htons(tot + sizeof(*out));
	out->id = 0;
	out->frag_off = bpf_htons(0x4000);
	out->ttl = 64;
	out->protocol = IPPROTO_IPIP;
	out->check = 0;
	out->saddr = bpf_htonl(0x0a000001);
	out->daddr = bpf_htonl(0x0a00000b);

	__u32 sum = 0;
	__u16 *w = (__u16 *)out;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	out->check = (__u16)~sum;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
