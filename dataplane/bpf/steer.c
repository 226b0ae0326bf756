// SPDX-License-Identifier: GPL-2.0
// xlb steering program: redirect to the AF_XDP socket of this queue only the
// frames the dataplane owns, pass everything else to the kernel.
//
// Owned frames, IPv4 and IPv6 alike:
//   * to a virtual service (dst addr, dst port, proto) in `services`;
//   * fragments to a VIP address (key with port 0, proto 0), and IPv6 to a
//     VIP whose extension headers cannot be walked (truncated, or more than
//     MAX_EXT): the dataplane counts and drops them, since it cannot
//     classify them by port;
//   * NAT replies: from a real server (src addr, src port, proto) in
//     `reals` (port 0: any source port, for firewall-mark services) whose
//     destination is not one of the director's own addresses (those are
//     health-check replies for the kernel).
// ARP, VRRP (proto 112), ICMP, ICMPv6 (neighbour discovery included) and all
// other traffic pass to the kernel.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

// Same layout as dataplane::steer::EndpointKey: network byte order fields,
// the address 16 bytes for both families (IPv4 mapped: ::ffff:a.b.c.d).
struct endpoint_key {
	__u8 addr[16];
	__u16 port;
	__u8 proto;
	__u8 pad;
};

// Same layout as dataplane::steer::LocalKey.
struct local_key {
	__u8 addr[16];
};

// IPv6 extension headers walked at most (as the dataplane's parser).
#define MAX_EXT 8
#define NEXT_HOP_BY_HOP 0
#define NEXT_ROUTING 43
#define NEXT_FRAGMENT 44
#define NEXT_ICMPV6 58
#define NEXT_DEST_OPTIONS 60

// Write an IPv4 address into a 16-byte key as ::ffff:a.b.c.d.
static __always_inline void map_v4(__u8 *dst, __be32 v4)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &v4, 4);
}

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct endpoint_key);
	__type(value, __u32);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct endpoint_key);
	__type(value, __u32);
} reals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct local_key);
	__type(value, __u32);
} locals SEC(".maps");

static __always_inline int to_dataplane(struct xdp_md *ctx)
{
	// Only traffic the daemon steers gets here. No socket bound on this
	// queue means the daemon is gone (killed: the program and its maps
	// outlive it): drop, as a dead LVS director would be silent. Passing it
	// on would let the kernel, which still holds the virtual addresses,
	// reset every connection before the backup takes over with them.
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_DROP);
}

// A TCP/UDP frame whose ports are at `ports`, addresses in 16-byte form:
// a service's, a real server's reply, or the kernel's.
static __always_inline int steer_ports(struct xdp_md *ctx, __u16 *ports, void *end,
				       __u8 proto, const __u8 *saddr, const __u8 *daddr)
{
	if ((void *)(ports + 2) > end)
		return XDP_PASS;
	struct endpoint_key key = {};
	__builtin_memcpy(key.addr, daddr, 16);
	key.port = ports[1];
	key.proto = proto;
	if (bpf_map_lookup_elem(&services, &key))
		return to_dataplane(ctx);
	// Every port of this protocol on the VIP (FTP data connections).
	key.port = 0;
	if (bpf_map_lookup_elem(&services, &key))
		return to_dataplane(ctx);

	__builtin_memcpy(key.addr, saddr, 16);
	key.port = ports[0];
	if (!bpf_map_lookup_elem(&reals, &key)) {
		// Real servers of firewall-mark services answer from whichever
		// port the client asked for: their key has port 0.
		key.port = 0;
		if (!bpf_map_lookup_elem(&reals, &key))
			return XDP_PASS;
	}
	struct local_key dst = {};
	__builtin_memcpy(dst.addr, daddr, 16);
	if (!bpf_map_lookup_elem(&locals, &dst))
		return to_dataplane(ctx);
	return XDP_PASS;
}

// To the dataplane (which counts and drops it) if addressed to a VIP.
static __always_inline int unclassifiable(struct xdp_md *ctx, const __u8 *daddr)
{
	struct endpoint_key key = {};
	__builtin_memcpy(key.addr, daddr, 16);
	if (bpf_map_lookup_elem(&services, &key))
		return to_dataplane(ctx);
	return XDP_PASS;
}

static __always_inline int steer_v6(struct xdp_md *ctx, void *cursor, void *end)
{
	struct ipv6hdr *ip = cursor;
	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	__u8 next = ip->nexthdr;
	__u8 *l4 = (void *)(ip + 1);
#pragma unroll
	for (int i = 0; i < MAX_EXT; i++) {
		if (next != NEXT_HOP_BY_HOP && next != NEXT_ROUTING && next != NEXT_FRAGMENT &&
		    next != NEXT_DEST_OPTIONS)
			break;
		if ((void *)(l4 + 8) > end)
			return unclassifiable(ctx, ip->daddr.in6_u.u6_addr8);
		// A fragment (offset or more-fragments set): no ports to read.
		if (next == NEXT_FRAGMENT) {
			if ((l4[2] << 8 | l4[3]) & 0xfff9)
				return unclassifiable(ctx, ip->daddr.in6_u.u6_addr8);
			next = l4[0];
			l4 += 8;
		} else {
			next = l4[0];
			l4 += (l4[1] + 1) * 8;
		}
	}
	if (next == IPPROTO_TCP || next == IPPROTO_UDP)
		return steer_ports(ctx, (__u16 *)l4, end, next, ip->saddr.in6_u.u6_addr8,
				   ip->daddr.in6_u.u6_addr8);
	// Neighbour discovery, echo, packet too big: the kernel's.
	if (next == NEXT_ICMPV6)
		return XDP_PASS;
	// Still an extension header: a chain longer than anyone sends.
	if (next == NEXT_HOP_BY_HOP || next == NEXT_ROUTING || next == NEXT_FRAGMENT ||
	    next == NEXT_DEST_OPTIONS)
		return unclassifiable(ctx, ip->daddr.in6_u.u6_addr8);
	return XDP_PASS;
}

SEC("xdp")
int xlb_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *cursor = eth + 1;
	__u16 ethertype;

	if (cursor > end)
		return XDP_PASS;
	ethertype = eth->h_proto;
	if (ethertype == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vlan = cursor;
		if ((void *)(vlan + 1) > end)
			return XDP_PASS;
		ethertype = vlan->encap_proto;
		cursor = vlan + 1;
	}
	if (ethertype == bpf_htons(ETH_P_IPV6))
		return steer_v6(ctx, cursor, end);
	if (ethertype != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	struct iphdr *ip = cursor;
	if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return XDP_PASS;

	struct endpoint_key key = {};
	// Any fragment (MF set or offset non-zero): no reliable ports to look at.
	if (ip->frag_off & bpf_htons(0x3fff)) {
		map_v4(key.addr, ip->daddr);
		if (bpf_map_lookup_elem(&services, &key))
			return to_dataplane(ctx);
		return XDP_PASS;
	}

	// TCP and UDP both start with source port, destination port.
	__u8 saddr[16], daddr[16];
	map_v4(saddr, ip->saddr);
	map_v4(daddr, ip->daddr);
	return steer_ports(ctx, (void *)ip + ip->ihl * 4, end, ip->protocol, saddr, daddr);
}

char _license[] SEC("license") = "GPL";
