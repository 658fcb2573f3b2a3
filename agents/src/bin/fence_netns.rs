//! `fence_netns`: fence agent for network-namespace lab nodes (see `agents::fence_netns`).
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(agents::fence_netns::main_with(&args, &mut std::io::stdin()));
}
