//! Debug aid: print the neighbour table as xlbd sees it (optionally poke an
//! address first): `neigh_dump [IFINDEX ADDR]`.
fn main() {
    let mut nl = xlb_control::net::neigh::Netlink::open().expect("rtnetlink");
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 {
        let r = nl.poke(
            args[1].parse().expect("ifindex"),
            args[2].parse().expect("addr"),
        );
        println!("poke: {r:?}");
    }
    for ((ifindex, addr), mac) in nl.neighbours().expect("dump") {
        println!("{ifindex} {addr} {mac:02x?}");
    }
}
