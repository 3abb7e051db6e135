//! `easd wbxml decode|encode`: WBXML on standard input to libwbxml-shaped XML on standard output
//! and back, for operators reading captures and for checking the codec from outside.

use std::io::{Read, Write};

use argh::FromArgs;

use super::exit;
use crate::wbxml;

/// convert between EAS WBXML and XML (stdin to stdout)
#[derive(FromArgs)]
#[argh(subcommand, name = "wbxml")]
pub struct WbxmlArgs {
    #[argh(subcommand)]
    action: WbxmlAction,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum WbxmlAction {
    Decode(DecodeArgs),
    Encode(EncodeArgs),
}

/// read WBXML on standard input, write XML on standard output
#[derive(FromArgs)]
#[argh(subcommand, name = "decode")]
struct DecodeArgs {}

/// read XML on standard input, write WBXML (header 03 01 6A 00) on standard output
#[derive(FromArgs)]
#[argh(subcommand, name = "encode")]
struct EncodeArgs {}

pub fn run(args: &WbxmlArgs) -> i32 {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        eprintln!("easd: reading standard input: {e}");
        return exit::IOERR;
    }
    let output = match args.action {
        WbxmlAction::Decode(_) => match wbxml::decode(&input) {
            Ok(doc) => wbxml::xml::to_xml(&doc).into_bytes(),
            Err(e) => {
                eprintln!("easd: not a WBXML document: {e}");
                return exit::DATAERR;
            }
        },
        WbxmlAction::Encode(_) => {
            let text = String::from_utf8_lossy(&input);
            match wbxml::xml::from_xml(&text) {
                Ok(doc) => wbxml::encode(&doc),
                Err(e) => {
                    eprintln!("easd: not an EAS XML document: {e}");
                    return exit::DATAERR;
                }
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&output).and_then(|()| stdout.flush()) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("easd: writing standard output: {e}");
            exit::IOERR
        }
    }
}
