fn main() { eprintln!("overlay-boot: not yet implemented"); std::process::exit(2); }
