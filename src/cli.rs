//! The command line (contract.md §4).

pub fn main() -> i32 {
    0
}
