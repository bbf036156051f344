/* Sizes and reason codes shared by the data plane and (mirrored in
 * l4lb_tui/layout.py) the control plane.  Change both together. */
#ifndef L4LB_CONSTS_H
#define L4LB_CONSTS_H

#define MAX_SERVICES 512
#define MAX_BACKENDS 4096

/* Each service owns two rings (double buffering: the control plane writes the
 * idle one, then flips the service entry with one map write).  A ring is up to
 * RING_CHUNKS chunks of CHUNK_SLOTS slots; chunking cuts the number of map
 * writes per reload by CHUNK_SLOTS. */
#define CHUNK_SLOTS 64
#define RING_CHUNKS 256 /* 16384 slots: room for the 16381-slot Maglev prime */
#define RING_MAX_SLOTS (CHUNK_SLOTS * RING_CHUNKS)
#define RING_MAP_CHUNKS (MAX_SERVICES * 2 * RING_CHUNKS)

#define IPIP_TTL 64

/* config.flags */
#define CFG_CATCH_ALL 1 /* seed behaviour: every TCP/UDP packet is balanced */

/* Reason counters.  Every verdict other than XDP_TX of a balanced packet is
 * counted under exactly one of these; balanced packets are counted per
 * backend instead, which saves a second counter write on the hot path. */
enum reason {
	R_PASS_NOT_IPV4 = 0, /* ARP, IPv6, VLAN-tagged, other ethertypes */
	R_PASS_NOT_VIP,      /* IPv4 to an address that is not a service VIP */
	R_PASS_FRAGMENT,     /* IPv4 fragment to a VIP: no ports to hash */
	R_PASS_IP_OPTIONS,   /* IHL > 5 to a VIP */
	R_PASS_NOT_TCP_UDP,  /* ICMP and other protocols to a VIP */
	R_PASS_NO_SERVICE,   /* VIP matched, but no service for this port/proto */
	R_DROP_TRUNCATED,    /* frame ends inside a header we must read */
	R_DROP_MALFORMED,    /* bad IHL, version, or total length */
	R_DROP_NO_BACKEND,   /* service has no usable backend */
	R_DROP_ADJUST_HEAD,  /* no headroom for the outer header */
	R_MAX,
};

#endif
