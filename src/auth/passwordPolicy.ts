// Which passwords a new account may have, after NIST SP 800-63B §3.1.1.2: long enough, not too long,
// not on a list of common or breached passwords, not something the attacker already knows about the
// account. No composition rules (digits, symbols …) and no expiry: NIST advises against both.
import { dictionary } from "@zxcvbn-ts/language-common";

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

/**
 * The common-passwords list of zxcvbn-ts (MIT), about 49,000 passwords from breaches, most used first,
 * shipped in the package: checked offline. Built on first use; only entries a new password could be.
 */
let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  common ??= new Set(dictionary["passwords-common"].map(comparable).filter((p) => codePoints(p) >= PASSWORD_MIN));
  return common;
}

/** Passwords are compared as they are hashed (NFKC), and without case: "Password1" is as common as "password1". */
function comparable(text: string): string {
  return text.normalize("NFKC").toLowerCase();
}

function codePoints(text: string): number {
  return [...text].length;
}

/** Why the password may not be used, as a sentence for the `password` field; null when it may. */
export function passwordProblem(password: string, account: { email: string; username: string }): string | null {
  const normalized = password.normalize("NFKC");
  const length = codePoints(normalized);
  if (length < PASSWORD_MIN) return `must be at least ${PASSWORD_MIN} characters`;
  if (length > PASSWORD_MAX) return `must be at most ${PASSWORD_MAX} characters`;
  if (normalized.trim() === "") return "must not be only spaces";
  const candidate = comparable(password);
  const email = comparable(account.email);
  if (candidate === email || candidate === email.slice(0, email.lastIndexOf("@"))) return "must not be your email address";
  if (candidate === comparable(account.username.trim())) return "must not be your username";
  if (commonPasswords().has(candidate)) return "is too common: it appears in lists of breached passwords";
  return null;
}
