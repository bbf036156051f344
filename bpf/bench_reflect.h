/* The MAC-swap XDP_TX reflector: the reference of `l4lb bench dataplane`
 * (bench_refl.c) and the base every cost probe adds one piece to
 * (bench_cost.c). */
#ifndef BENCH_REFLECT_H
#define BENCH_REFLECT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>

static __always_inline int reflect(void *data, void *end)
{
	struct ethhdr *eth = data;
	__u8 tmp[ETH_ALEN];

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

#endif
