/* Map definitions.  The driver build uses per-CPU counters so the hot path
 * makes no shared atomic writes; the NFP offload build (L4LB_OFFLOAD) may only
 * use plain array and hash maps, so it counts with atomic adds instead. */
#ifndef L4LB_MAPS_H
#define L4LB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_structs.h"

#ifdef L4LB_OFFLOAD
#define COUNTER_MAP BPF_MAP_TYPE_ARRAY
#define SVC_MAP_FLAGS 0
#else
#define COUNTER_MAP BPF_MAP_TYPE_PERCPU_ARRAY
/* Freed through RCU: a reader never sees a recycled element mid-reload. */
#define SVC_MAP_FLAGS BPF_F_NO_PREALLOC
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

/* VIP addresses: the exact check behind vip_filter, on the rare paths. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __be32);
	__type(value, __u32);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIP_FILTER_ENTRIES);
	__type(key, __u32);
	__type(value, struct vip_filter);
} vip_filter SEC(".maps");

/* Live generation of each service by id (0: no such service), so a flow
 * table hit is validated without the services hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u32);
} svc_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVICES);
	__uint(map_flags, SVC_MAP_FLAGS);
	__type(key, struct svc_key);
	__type(value, struct svc_val);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RING_MAP_CHUNKS);
	__type(key, __u32);
	__type(value, struct ring_chunk);
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

struct {
	__uint(type, COUNTER_MAP);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct counters);
} backend_stats SEC(".maps");

struct {
	__uint(type, COUNTER_MAP);
	__uint(max_entries, R_MAX);
	__type(key, __u32);
	__type(value, struct counters);
} reasons SEC(".maps");

#ifndef L4LB_OFFLOAD
/* Shared, not per-CPU: a flow whose packets arrive on another CPU (veth,
 * a rehashed RSS queue) must still find its backend. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_SLOTS);
	__type(key, __u32);
	__type(value, struct flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOW_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} flow_stats SEC(".maps");
#endif

#endif
