//! `crm_master`: the deprecated promotion-score wrapper agents still call
//! (`crm_master -l reboot -v N`, `-q -G`, `-D`). Like Pacemaker's shell script it runs
//! `crm_attribute -n master-$OCF_RESOURCE_INSTANCE --lifetime forever OPTIONS...`, with `-r RSC`
//! choosing another resource; the caller's `-l reboot` overrides the permanent default.

use std::process::Command;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rsc = std::env::var("OCF_RESOURCE_INSTANCE").ok().filter(|v| !v.is_empty());
    let mut pass = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-r" | "--resource" => {
                rsc = args.get(i + 1).cloned();
                i += 2;
                continue;
            }
            a if a.starts_with("--resource=") => rsc = Some(a["--resource=".len()..].to_string()),
            "-h" | "--help" | "-?" => {
                println!("crm_master - deprecated: use crm_attribute --promotion instead");
                println!("Usage: crm_master [-r RSC] [-l reboot|forever] [-N NODE] (-v VALUE | -G [-q] | -D)");
                return;
            }
            a => pass.push(a.to_string()),
        }
        i += 1;
    }
    let Some(rsc) = rsc else {
        eprintln!(
            "Error: This command can only be run from within an OCF resource agent (or with -r)"
        );
        std::process::exit(cluster_core::cib::exit::USAGE);
    };
    let sibling =
        std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("crm_attribute")));
    let prog = sibling
        .filter(|p| p.exists())
        .map(|p| p.into_os_string())
        .unwrap_or_else(|| "crm_attribute".into());
    let status = Command::new(prog)
        .arg("-n")
        .arg(format!("master-{rsc}"))
        .args(["--lifetime", "forever"])
        .args(&pass)
        .status();
    match status {
        Ok(s) => std::process::exit(s.code().unwrap_or(1)),
        Err(e) => {
            eprintln!("crm_master: cannot run crm_attribute: {e}");
            std::process::exit(1)
        }
    }
}
