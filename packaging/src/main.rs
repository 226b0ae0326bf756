//! xlb-docgen DIR: writes xlb's man pages (DIR/man) and bash and zsh
//! completions (DIR/completions) for the Debian package (scripts/package.sh).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: xlb-docgen DIR   (writes DIR/man and DIR/completions)");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    match xlb_packaging::write_all(&dir) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xlb-docgen: cannot write into {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}
