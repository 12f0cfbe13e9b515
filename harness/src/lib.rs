pub mod cli { pub fn main(_m: Vec<()>) -> i32 { 0 } }
