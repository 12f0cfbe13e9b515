pub fn all() -> Vec<()> { vec![] }
