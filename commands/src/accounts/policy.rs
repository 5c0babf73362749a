//! What a new password must be (ASVS 5.0 §6.2): 12 characters to 1 KiB, any characters, no
//! composition rules; and not one an attacker tries first: not on the list of the 30,000 most
//! common passwords, not repeated or sequential characters or a keyboard walk, not holding
//! the username, the e-mail address or the person's name, and not otherwise guessable in
//! fewer than 10^8 tries by zxcvbn's estimate (its score 3, the one it calls strong enough).
//!
//! The common list and the estimate are the `zxcvbn` crate's (Dropbox's zxcvbn, its password
//! list drawn from Xato's 10 million leaked passwords): a maintained list, nothing fetched at
//! build or run time.

use zxcvbn::matching::patterns::MatchPattern;

/// Shortest password accepted, in characters.
pub const PASSWORD_MIN_CHARS: usize = 12;
/// Longest password accepted, in bytes (no truncation below that).
pub const PASSWORD_MAX_BYTES: usize = 1024;
/// Parts of a username, e-mail address or name shorter than this are not looked for inside a
/// password ("ana" would refuse "banana bread forever").
const IDENTITY_MIN_CHARS: usize = 4;

/// A refused password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("password must be at least {PASSWORD_MIN_CHARS} characters")]
    TooShort,
    #[error("password must be at most {PASSWORD_MAX_BYTES} bytes")]
    TooLong,
    #[error("the new password must differ from the current one")]
    Unchanged,
    #[error("password must not contain the username, e-mail address or name")]
    ContainsIdentity,
    #[error("password must not be repeated or sequential characters or a row of keys")]
    Trivial,
    #[error("password is one of the most common passwords")]
    Common,
    #[error("password is too easy to guess: add words or characters that do not go together")]
    Guessable,
}

impl PasswordPolicyError {
    /// The stable code the API answers with (422).
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort | Self::TooLong | Self::Unchanged => "password_policy",
            Self::ContainsIdentity => "password_contains_identity",
            Self::Trivial => "password_trivial",
            Self::Common => "password_common",
            Self::Guessable => "password_guessable",
        }
    }
}

/// Checks a new password against the policy. `identity` holds what the password must not
/// contain: the username, the e-mail address, names (each also split into its parts).
///
/// # Errors
/// [`PasswordPolicyError`] naming the first rule broken, in the order of the variants.
pub fn check_password_policy(password: &str, identity: &[&str]) -> Result<(), PasswordPolicyError> {
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(PasswordPolicyError::TooLong);
    }
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(PasswordPolicyError::TooShort);
    }
    let lower = password.to_lowercase();
    if identity_parts(identity).any(|part| lower.contains(&part)) {
        return Err(PasswordPolicyError::ContainsIdentity);
    }
    if trivial(&lower) {
        return Err(PasswordPolicyError::Trivial);
    }
    let inputs: Vec<&str> = identity.to_vec();
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    let whole = |m: &zxcvbn::Match| m.i == 0 && m.j + 1 >= password.chars().count().min(100);
    if let [only] = estimate.sequence() {
        if whole(only) {
            match &only.pattern {
                // `DictionaryType` is not exported; its default is the password list.
                MatchPattern::Dictionary(d) if d.dictionary_name == Default::default() => {
                    return Err(PasswordPolicyError::Common);
                }
                MatchPattern::Repeat(_) | MatchPattern::Sequence(_) | MatchPattern::Spatial(_) => {
                    return Err(PasswordPolicyError::Trivial);
                }
                _ => {}
            }
        }
    }
    if estimate.sequence().iter().all(|m| {
        matches!(
            m.pattern,
            MatchPattern::Repeat(_) | MatchPattern::Sequence(_) | MatchPattern::Spatial(_)
        )
    }) {
        return Err(PasswordPolicyError::Trivial);
    }
    if u8::from(estimate.score()) < 3 {
        return Err(PasswordPolicyError::Guessable);
    }
    Ok(())
}

/// Each identity value, lowercased, whole and split at anything not a letter or digit,
/// keeping the parts of at least [`IDENTITY_MIN_CHARS`].
fn identity_parts<'a>(identity: &'a [&'a str]) -> impl Iterator<Item = String> + 'a {
    identity.iter().flat_map(|value| {
        let lower = value.trim().to_lowercase();
        let parts: Vec<String> = lower
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_owned)
            .collect();
        std::iter::once(lower)
            .chain(parts)
            .filter(|p| p.chars().count() >= IDENTITY_MIN_CHARS)
            .collect::<Vec<_>>()
    })
}

/// One short unit repeated ("aaaa", "abcabc", "12121212"), or a run where every character
/// steps from the last by the same -1, 0 or +1 ("abcdef", "987654", digits wrapping from 9
/// to 0: "123456789012").
fn trivial(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    let repeated = (1..=4).any(|unit| {
        chars.len() >= unit * 2 && chars.iter().enumerate().all(|(i, c)| *c == chars[i % unit])
    });
    let step = |a: char, b: char| -> Option<i64> {
        let d = i64::from(u32::from(b)) - i64::from(u32::from(a));
        match (a, b, d) {
            ('9', '0', _) => Some(1),
            ('0', '9', _) => Some(-1),
            (_, _, -1..=1) => Some(d),
            _ => None,
        }
    };
    let steps: Vec<Option<i64>> = chars.windows(2).map(|w| step(w[0], w[1])).collect();
    let sequential = steps
        .first()
        .is_some_and(|first| first.is_some() && steps.iter().all(|s| s == first));
    repeated || sequential
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters_and_capped_in_bytes() {
        assert_eq!(
            check_password_policy("short", &[]),
            Err(PasswordPolicyError::TooShort)
        );
        assert_eq!(
            check_password_policy("ééééééééééé", &[]),
            Err(PasswordPolicyError::TooShort)
        );
        let long = "plum kayak 7 viaduct, ".repeat(46);
        assert!(long.len() <= 1024, "{}", long.len());
        assert_eq!(check_password_policy(&long, &[]), Ok(()));
        assert_eq!(
            check_password_policy(&format!("{long}{}", "x".repeat(1025 - long.len())), &[]),
            Err(PasswordPolicyError::TooLong)
        );
    }

    #[test]
    fn repeated_sequential_and_keyboard_passwords_are_trivial() {
        for trivial in [
            "aaaaaaaaaaaa",
            "............",
            "123456789012",
            "abcdefghijkl",
            "ZYXWVUTSRQPO",
            "abcabcabcabc",
            "121212121212",
        ] {
            assert_eq!(
                check_password_policy(trivial, &[]),
                Err(PasswordPolicyError::Trivial),
                "{trivial}"
            );
        }
    }

    #[test]
    fn common_passwords_are_refused_and_guessable_ones_too() {
        for common in [
            "password1234",
            "PASSWORD1234",
            "qwertyuiop123",
            "1qaz2wsx3edc4rfv",
        ] {
            assert_eq!(
                check_password_policy(common, &[]),
                Err(PasswordPolicyError::Common),
                "{common}"
            );
        }
        for guessable in [
            "iloveyou1234",
            "123456789101112",
            "Password2024!",
            "qwertyuiopasdf",
        ] {
            assert_eq!(
                check_password_policy(guessable, &[]),
                Err(PasswordPolicyError::Guessable),
                "{guessable}"
            );
        }
    }

    #[test]
    fn the_username_email_or_name_inside_is_refused() {
        let who = [
            "officer.gagnon",
            "Marie-Ève Tremblay",
            "ana.silva@example.ca",
        ];
        for inside in [
            "my officer.gagnon secret!",
            "xx GAGNON is my name xx",
            "tremblay-the-unguessable",
            "I am ana.silva@example.ca!",
            "silva silva silva 42 ok",
            "ève ève marie ève ok",
        ] {
            assert_eq!(
                check_password_policy(inside, &who),
                Err(PasswordPolicyError::ContainsIdentity),
                "{inside}"
            );
        }
        assert_eq!(
            check_password_policy("banana kayak viaduct", &["ana@example.ca"]),
            Ok(()),
            "parts under four characters are not looked for"
        );
    }

    #[test]
    fn passphrases_and_random_passwords_pass() {
        for good in [
            "correct horse battery staple",
            "a brand new passphrase",
            "staff password of some length",
            "the officer's own long passphrase",
            "kx7hq2mwp9rt4vbz",
            "a long enough passphrase",
            "benchmark staff password",
            "bench password of some length",
            "officer passphrase for fuzzing",
            "applicant passphrase for fuzzing",
            "my own passphrase of the north shore",
            "Marée basse à Tadoussac 1987",
        ] {
            assert_eq!(check_password_policy(good, &[]), Ok(()), "{good}");
        }
    }
}
