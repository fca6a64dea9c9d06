//! `trellis-boundaries [DIR]`: exits 1 and names the lines if any crate
//! under DIR (default: the current directory) has an import circle.

use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    match trellis_boundaries::check_workspace(std::path::Path::new(&dir)) {
        Ok(circles) if circles.is_empty() => {
            println!("boundaries: no import circle in any crate under {dir}");
            ExitCode::SUCCESS
        }
        Ok(circles) => {
            for circle in &circles {
                eprintln!("{circle}");
            }
            eprintln!("boundaries: {} import circle(s)", circles.len());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("boundaries: {e}");
            ExitCode::from(2)
        }
    }
}
