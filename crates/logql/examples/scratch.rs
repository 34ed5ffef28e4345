fn main() {
    for q in std::env::args().skip(1) {
        match kelp_logql::parse(&q) {
            Ok(e) => println!("OK  {e}\n    {e:?}"),
            Err(e) => println!("ERR {e}"),
        }
    }
}
