//! chatdeploy's command parser on its own, with nothing but std and
//! thiserror underneath:
//!
//! ```toml
//! chatdeploy-core = { version = "0.1", default-features = false }
//! ```
//!
//! Prints the canonical form of each command, or the sentence telling the
//! person what to type instead. Commands come from the arguments, or one per
//! line from stdin:
//!
//! ```sh
//! cargo run -p chatdeploy-core --no-default-features --example parse_only -- \
//!     'run Deploy app “r-99.1.0” to staging' 'depoly app r-1'
//! printf 'status app\nd\u0435ploy app r-1\n' | cargo run -p chatdeploy-core \
//!     --no-default-features --example parse_only
//! ```

use std::io::BufRead;

use chatdeploy_core::parse;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lines: Box<dyn Iterator<Item = std::io::Result<String>>> = if args.is_empty() {
        Box::new(std::io::stdin().lock().lines())
    } else {
        Box::new(args.into_iter().map(Ok))
    };
    for line in lines {
        match parse(&line?) {
            Ok(command) => println!("ok    {command}  ({} command)", command.kind()),
            Err(error) => println!("error {error}"),
        }
    }
    Ok(())
}
