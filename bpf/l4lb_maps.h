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
#else
#define COUNTER_MAP BPF_MAP_TYPE_PERCPU_ARRAY
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIP_FILTER_ENTRIES);
	__type(key, __u32);
	__type(value, struct vip_filter);
} vip_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SVC_SLOTS);
	__type(key, __u32);
	__type(value, struct svc_slot);
} svc_index SEC(".maps");

/* Indexed by service id; entry 0 stays empty (a half-written svc_index slot
 * reads id 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SERVICES + 1);
	__type(key, __u32);
	__type(value, struct svc_live);
} svc_live SEC(".maps");

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
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_TAG_ENTRIES);
	__type(key, __u32);
	__type(value, struct flow_tags);
} flow_tags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_PICK_ENTRIES);
	__type(key, __u32);
	__type(value, struct flow_picks);
} flow_picks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOW_STATS_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} flow_stats SEC(".maps");

/* IPv6 (not in the offload build). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config6);
} config6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SVC6_SLOTS);
	__type(key, __u32);
	__type(value, struct svc6_slot);
} svc6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend6);
} backend6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW6_SLOTS);
	__type(key, __u32);
	__type(value, struct flow6);
} flows6 SEC(".maps");

/* In front of flows6 as flow_tags and flow_picks are in front of flows. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW6_TAG_ENTRIES);
	__type(key, __u32);
	__type(value, struct flow_tags);
} flow6_tags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW6_PICK_ENTRIES);
	__type(key, __u32);
	__type(value, struct flow_picks);
} flow6_picks SEC(".maps");
#endif

#endif
