//! The minimum strength a dashboard password must have, with Django's validator messages (upstream's
//! AUTH_PASSWORD_VALIDATORS are unset, so it takes any password; a serious RMM should not).

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 8;

/// Passwords so common that length alone does not make them safe (lower-cased).
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "12345678",
    "123456789",
    "1234567890",
    "87654321",
    "11111111",
    "00000000",
    "qwertyui",
    "qwerty12",
    "qwerty123",
    "qwertyuiop",
    "1q2w3e4r",
    "1qaz2wsx",
    "zaq12wsx",
    "abcd1234",
    "abc12345",
    "iloveyou",
    "letmein1",
    "welcome1",
    "welcome123",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "trustno1",
    "starwars",
    "whatever",
    "monkey123",
    "dragon123",
    "master123",
    "admin123",
    "administrator",
    "changeme",
    "changeme123",
    "default1",
    "tactical",
    "tacticalrmm",
    "trmmadmin",
    "computer",
    "internet",
    "michelle",
    "jennifer",
    "sandiego",
    "mustang1",
    "shadow12",
    "asdfghjk",
    "asdf1234",
    "zxcvbnm1",
    "zxcvbnmm",
];

/// Why `password` is too weak for `username`, in Django's words; empty when it is acceptable.
pub fn password_problems(password: &str, username: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if password.chars().count() < MIN_LENGTH {
        problems.push(format!(
            "This password is too short. It must contain at least {MIN_LENGTH} characters."
        ));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        problems.push("This password is too common.".to_owned());
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        problems.push("This password is entirely numeric.".to_owned());
    }
    let name = username.trim().to_lowercase();
    if name.chars().count() >= 3 && (lower.contains(&name) || name.contains(&lower)) {
        problems.push("The password is too similar to the username.".to_owned());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_named_and_strong_ones_pass() {
        assert_eq!(
            password_problems("correct horse battery", "admin"),
            Vec::<String>::new()
        );
        assert_eq!(password_problems("short1", "bob").len(), 1);
        assert_eq!(
            password_problems("Password123", "bob"),
            ["This password is too common."]
        );
        assert_eq!(
            password_problems("1234", "bob"),
            [
                "This password is too short. It must contain at least 8 characters.",
                "This password is entirely numeric."
            ]
        );
        assert_eq!(
            password_problems("alice-in-chains", "Alice"),
            ["The password is too similar to the username."]
        );
    }
}
