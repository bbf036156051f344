// SPDX-License-Identifier: BSD-2-Clause
/* `l4lb bench dataplane`: the restoring wrapper.
 *
 * BPF_PROG_TEST_RUN in live-frames mode recycles its pages and resets only
 * the data pointers, not the bytes: a program that rewrites the frame (the
 * balancer writes an outer header over the Ethernet header) would see its
 * own output from the second batch on and time the wrong path.  Every
 * program is therefore timed behind this wrapper, which puts the original
 * frame back and tail-calls the program under test (target[0]).
 *
 * What is restored: the frame's length (bpf_xdp_adjust_tail, should a program
 * have changed it) and its first 64 bytes (60 for a minimum-size frame).
 * That covers every byte a balancer rewrites: the encapsulation writes its
 * 34 bytes in the 20 bytes of headroom it adds plus the old Ethernet header,
 * and leaves the rest of the frame alone.  The bench checks this for every
 * program and packet (non-live run, output against input) before it times
 * anything, so a program that writes further fails the run instead of
 * skewing it.  Restoring a 1500-byte frame whole would cost more than the
 * programs being compared.
 *
 * New flows: with BENCH_VARY_SADDR set, packet n gets source address
 * (template source + n) within its /8, checksums fixed up incrementally, so
 * each packet is a flow the balancer has not seen (for 16.7 million packets).
 * BENCH_VARY_SADDR6 does the same for IPv6: the source's last 32 bits are
 * (template's + n), and the TCP/UDP checksum (IPv6 has no header checksum)
 * is fixed up from the template's, kept in tpl: TCP's lies at byte 70, past
 * the bytes restored, so the frame's own would carry the last packet's fix.
 *
 * Many flows: with BENCH_CYCLE_FLOWS set, packet n is flow i = n mod nflows
 * of a cycle of distinct flows (source port 1024 + (i & 0x3fff), source
 * address template + (i >> 14) within its /8), checksums fixed up
 * incrementally: once each flow has been seen twice, every packet is an
 * established flow the balancer must find among nflows, as real traffic
 * makes it do (caches and TLB missed, not one hot entry).
 *
 * The wrapper does the same work whatever program it calls, so differences
 * between programs timed through it are the programs' own.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define BENCH_RESTORE 64     /* bytes restored from the template */
#define BENCH_MIN_FRAME 60   /* Ethernet minimum without FCS */
#define BENCH_VARY_SADDR 1   /* tpl.flags */
#define BENCH_CYCLE_FLOWS 2  /* tpl.flags */
#define BENCH_VARY_SADDR6 4  /* tpl.flags */

/* IPv4 in Ethernet, no VLAN: where the varied fields are. */
#define OFF_IP_CSUM 24
#define OFF_IP_SADDR 26
#define OFF_L4_MIN 34
#define OFF_L4_PORTS 34

struct bench_tpl {
	__u64 w[BENCH_RESTORE / 8]; /* the frame's first bytes */
	__u32 len;                  /* the frame's length */
	__u32 flags;                /* BENCH_* */
	__u32 l4_csum;              /* offset of the TCP/UDP checksum to fix, 0: none */
	__u32 udp;                  /* that checksum is UDP's (0 stays 0, 0 becomes ~0) */
	__u64 seq;                  /* packets seen: the source of varied addresses */
	__u64 len_fixed;            /* frames whose length had to be restored */
	__u32 nflows;               /* BENCH_CYCLE_FLOWS: flows in the cycle */
	__u32 cycle;                /* the next flow of the cycle (no division per packet) */
	__u32 csum6;                /* BENCH_VARY_SADDR6: the template's TCP/UDP checksum, as stored */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target SEC(".maps");

/* A plain array: the bench pins its process to one CPU, so the non-atomic
 * updates of seq and len_fixed cannot race. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_tpl);
} tpl SEC(".maps");

/* RFC 1624 incremental update of a one's-complement checksum for a 32-bit
 * field that changed from `from` to `to` (both as stored in the packet). */
static __always_inline __u16 csum_replace4(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;

	sum += (~from & 0xffff) + (~from >> 16) + (to & 0xffff) + (to >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline void vary_saddr(void *data, void *end, struct bench_tpl *t, __u64 seq)
{
	__u32 l4 = t->l4_csum;

	if (data + BENCH_MIN_FRAME > end || l4 < OFF_L4_MIN || l4 > BENCH_MIN_FRAME - 2)
		return;
	__u32 *saddr = data + OFF_IP_SADDR;
	__u32 old = *saddr;
	__u32 host = bpf_ntohl(old);
	__u32 new = bpf_htonl((host & 0xff000000) | ((host + (__u32)seq) & 0x00ffffff));
	__u16 *ip_csum = data + OFF_IP_CSUM;
	__u16 *l4_csum = data + l4;

	*saddr = new;
	*ip_csum = csum_replace4(*ip_csum, old, new);
	if ((void *)(l4_csum + 1) > end) /* a variable offset needs its own check */
		return;
	if (t->udp && *l4_csum == 0)
		return; /* UDP without checksum */
	__u16 sum = csum_replace4(*l4_csum, old, new);
	*l4_csum = (t->udp && sum == 0) ? 0xffff : sum;
}

/* Both changed words fixed in the IPv4 and the TCP/UDP checksum.  The
 * checksum sits at a constant offset (IPv4 without options): a variable one
 * loses its bound in the verifier once the compiler spills it. */
#define OFF_UDP_CSUM 40
#define OFF_TCP_CSUM 50

static __always_inline void set_flow(void *data, void *end, struct bench_tpl *t, __u32 saddr,
				     __u32 ports)
{
	if (data + BENCH_MIN_FRAME > end)
		return;
	__u32 *sa = data + OFF_IP_SADDR;
	__u32 *pw = data + OFF_L4_PORTS;
	__u32 old_sa = *sa, old_pw = *pw;
	__u16 *ip_csum = data + OFF_IP_CSUM;
	__u16 *l4_csum = data + (t->udp ? OFF_UDP_CSUM : OFF_TCP_CSUM);

	*sa = saddr;
	*pw = ports;
	*ip_csum = csum_replace4(*ip_csum, old_sa, saddr);
	if (t->udp && *l4_csum == 0)
		return;
	__u16 sum = csum_replace4(csum_replace4(*l4_csum, old_sa, saddr), old_pw, ports);
	*l4_csum = (t->udp && sum == 0) ? 0xffff : sum;
}

/* IPv6 in Ethernet, no VLAN, TCP or UDP right after the fixed header. */
#define OFF_IP6_SADDR_LO 34 /* the source address's last 32 bits */
#define OFF_UDP6_CSUM 60
#define OFF_TCP6_CSUM 70

static __always_inline void vary_saddr6(void *data, void *end, struct bench_tpl *t, __u64 seq)
{
	__u16 *l4_csum = data + (t->udp ? OFF_UDP6_CSUM : OFF_TCP6_CSUM);

	if (data + BENCH_MIN_FRAME > end || (void *)(l4_csum + 1) > end)
		return;
	__u32 *saddr = data + OFF_IP6_SADDR_LO;
	__u32 old = *saddr; /* the template's: restored above */
	__u32 new = bpf_htonl(bpf_ntohl(old) + (__u32)seq);
	__u16 sum = csum_replace4((__u16)t->csum6, old, new);

	*saddr = new;
	*l4_csum = (t->udp && sum == 0) ? 0xffff : sum; /* UDP over IPv6 always has one */
}

static __always_inline void cycle_flow(void *data, void *end, struct bench_tpl *t)
{
	__u32 i = t->cycle;
	__u32 next = i + 1;

	t->cycle = next >= t->nflows ? 0 : next;
	if (data + BENCH_MIN_FRAME > end)
		return;
	__u32 host = bpf_ntohl(*(__u32 *)(data + OFF_IP_SADDR));
	__u32 saddr = bpf_htonl((host & 0xff000000) | ((host + (i >> 14)) & 0x00ffffff));
	__u16 *pw = data + OFF_L4_PORTS;
	__u16 sport = bpf_htons(1024 + (i & 0x3fff));
	__u32 ports = (__u32)sport | ((__u32)pw[1] << 16); /* in memory order: sport, dport */

	set_flow(data, end, t, saddr, ports);
}

SEC("xdp")
int bench_wrap(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct bench_tpl *t = bpf_map_lookup_elem(&tpl, &zero);

	if (!t)
		return XDP_ABORTED;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	int delta = (int)t->len - (int)(end - data);

	if (delta) {
		if (bpf_xdp_adjust_tail(ctx, delta))
			return XDP_ABORTED;
		t->len_fixed++;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
	}
	__u64 *p = data;
	if (data + BENCH_RESTORE <= end) {
#pragma unroll
		for (int i = 0; i < BENCH_RESTORE / 8; i++)
			p[i] = t->w[i];
	} else if (data + BENCH_MIN_FRAME <= end) {
#pragma unroll
		for (int i = 0; i < BENCH_MIN_FRAME / 8; i++)
			p[i] = t->w[i];
		*(__u32 *)(p + BENCH_MIN_FRAME / 8) = *(__u32 *)&t->w[BENCH_MIN_FRAME / 8];
	} else {
		return XDP_ABORTED;
	}
	__u64 seq = t->seq++;

	if (t->flags & BENCH_VARY_SADDR)
		vary_saddr(data, end, t, seq);
	else if (t->flags & BENCH_CYCLE_FLOWS)
		cycle_flow(data, end, t);
	else if (t->flags & BENCH_VARY_SADDR6)
		vary_saddr6(data, end, t, seq);
	bpf_tail_call(ctx, &target, 0);
	return XDP_ABORTED; /* empty or incompatible target */
}

char _license[] SEC("license") = "GPL";
