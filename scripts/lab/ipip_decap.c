// The lab's real servers for TUN: this machine's kernel has no ipip module,
// so an XDP program on the real server's interface takes the outer IPv4
// header off IP-in-IP packets addressed to it and passes the inner packet
// (to the VIP on its loopback) to the kernel, as the ipip module would. A
// real server with the ipip module needs none of this (docs/forwarding.md).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// Packets unwrapped, for the lab to check the tunnel was used.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} decapsulated SEC(".maps");

SEC("xdp")
int ipip_decap(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
    return XDP_PASS;
  struct iphdr *outer = (void *)(eth + 1);
  if ((void *)(outer + 1) > end || outer->protocol != IPPROTO_IPIP || outer->ihl != 5)
    return XDP_PASS;
  struct iphdr *inner = (void *)(outer + 1);
  if ((void *)(inner + 1) > end || inner->version != 4)
    return XDP_DROP;
  struct ethhdr l2 = *eth;
  if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct iphdr)))
    return XDP_DROP;
  data = (void *)(long)ctx->data;
  end = (void *)(long)ctx->data_end;
  eth = data;
  if ((void *)(eth + 1) > end)
    return XDP_DROP;
  __builtin_memcpy(eth, &l2, sizeof(l2));
  __u32 key = 0;
  __u64 *n = bpf_map_lookup_elem(&decapsulated, &key);
  if (n)
    __sync_fetch_and_add(n, 1);
  return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
