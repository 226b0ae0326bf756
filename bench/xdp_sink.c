// Benchmark sink on the real server: drop every frame (the veth's rx
// counters still count them), so the receiver costs nothing.
#include <linux/bpf.h>
#define SEC(x) __attribute__((section(x), used))
SEC("xdp") int xdp_sink(struct xdp_md *ctx) { return XDP_DROP; }
char _license[] SEC("license") = "GPL";
