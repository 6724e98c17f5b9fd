//! The whole job on the embedded default, printed step by step.
//!
//! `cargo run --example quickstart`

use postback::{ClickId, ClickIdGenerator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Click time: one generator per process, shared by every request handler.
    let ids = ClickIdGenerator::new();
    let click = ids.generate();
    println!("1. new click id        {click}");
    println!("   created at          {}", click.timestamp());

    let offer_link = format!("https://offer.example/?aff_sub={click}");
    println!("2. offer link          {offer_link}");

    // Conversion time: the network returns the id, perhaps upper-cased by its URL handling.
    let returned = click.encode().to_ascii_uppercase();
    let matched: ClickId = returned.parse()?;
    println!("3. network sent back   {returned}");
    println!("   parses to the click {}", matched == click);

    // Ids made later sort later, even within the same millisecond.
    let next = ids.generate();
    println!(
        "4. next id             {next} (sorts after: {})",
        next > click
    );

    // A mistyped id says exactly what is wrong.
    match "01JDEJYJ0000000000000000IA".parse::<ClickId>() {
        Ok(id) => println!("5. unexpectedly parsed {id}"),
        Err(err) => println!("5. typo in an id       {err}"),
    }
    Ok(())
}
