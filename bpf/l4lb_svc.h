/* Services: the VIP filter, the service lookup (svc_index) and a service's
 * ring.  The lookup is shared by the balancer and the guard that holds the
 * services' packets back while the balancer switches XDP mode
 * (l4lb_guard.c): both must agree exactly on what is a service's packet. */
#ifndef L4LB_SVC_H
#define L4LB_SVC_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"
#include "l4lb_maps.h"
#include "l4lb_parse.h"

/* Two multiplies (Fibonacci hashing of each word, top bits): a few services
 * per VIP spread as well as by a full mix, which the load checks anyway. */
static __always_inline __u32 svc_bucket(__be32 vip, __be16 port, __u8 proto)
{
	__u32 h = (__u32)vip * 0x9E3779B1u ^ (((__u32)port << 16) | proto) * 0x85EBCA6Bu;

	return h >> (32 - SVC_BUCKETS_LOG2);
}

/* The slot of a key in its bucket (one cache line): key and flags are one
 * 8-byte word, compared under `mask` with `flags`; a service slot must also
 * name a service (id 0: half-written, or a VIP marker). */
static __always_inline struct svc_slot *svc_scan(__be32 vip, __be16 port, __u8 proto,
						 __u8 flags, __u64 mask, int need_id)
{
	__u32 first = svc_bucket(vip, port, proto) * SVC_BUCKET;
	__u64 want = (__u64)vip | (__u64)port << 32 | (__u64)proto << 48 | (__u64)flags << 56;

#pragma unroll
	for (__u32 i = 0; i < SVC_BUCKET; i++) {
		__u32 idx = first + i;
		struct svc_slot *s = bpf_map_lookup_elem(&svc_index, &idx);

		if (s && (*(__u64 *)s & mask) == want && (!need_id || s->id))
			return s;
	}
	return NULL;
}

/* The service of one exact key (the fill-mode bits are the control plane's
 * and masked off). */
static __always_inline struct svc_slot *svc_lookup(__be32 vip, __be16 port, __u8 proto)
{
	return svc_scan(vip, port, proto, SVC_USED, SVC_KEY_MASK, 1);
}

/* Exact port first, then the VIP's any-port service, then the catch-all. */
static __always_inline struct svc_slot *find_service(__be32 vip, __be16 port, __u8 proto,
						     __u16 cfg_flags)
{
	struct svc_slot *svc = svc_lookup(vip, port, proto);

	if (svc)
		return svc;
	svc = svc_lookup(vip, 0, proto);
	if (svc || !(cfg_flags & CFG_CATCH_ALL))
		return svc;
	return svc_lookup(0, 0, 0);
}

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

/* The ring's choice for a flow hash. */
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

#endif
