// Sign-up and sign-in.
import { Prisma, type User } from "../generated/prisma/client.ts";
import type { Database } from "../database/connect.ts";
import { StorySparkError, badInput } from "../domain/errors.ts";
import { hashPassword, verifyPassword } from "./passwords.ts";
import { passwordProblem } from "./passwordPolicy.ts";
import type { AuthThrottle } from "./throttle.ts";
import type { AuthMode } from "./authMode.ts";

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const EMAIL_MAX = 254;
export const USERNAME_MAX = 60;

export type AccountServices = {
  readonly db: Database;
  readonly throttle: AuthThrottle;
  readonly authMode: AuthMode;
  readonly supabase: { readonly url: string } | null;
};
export type SignUpInput = { email: string; username: string; password: string };

/** AUTH_MODE=supabase: accounts are Supabase Auth's, so signing up or in here is refused, saying where to instead. */
function refuseUnlessLocalAccounts({ authMode, supabase }: AccountServices): void {
  if (authMode !== "supabase") return;
  throw new StorySparkError(
    "LOCAL_AUTH_DISABLED",
    "this server signs users in with Supabase Auth: sign up and in with Supabase (supabase.auth.signUp, supabase.auth.signInWithPassword …) " +
      "and send the session's access token as `Authorization: Bearer <token>`",
    { authProvider: "supabase", ...(supabase ? { supabaseUrl: supabase.url } : {}) },
  );
}

export async function signUp(services: AccountServices, input: SignUpInput, address: string | null): Promise<User> {
  refuseUnlessLocalAccounts(services);
  const { db, throttle } = services;
  const email = normalizeEmail(input.email);
  if (!isEmail(email)) throw badInput("email", "is not a valid email address");
  const username = input.username.trim();
  if (username.length === 0) throw badInput("username", "must not be empty");
  if (username.length > USERNAME_MAX) throw badInput("username", `must be at most ${USERNAME_MAX} characters`);
  const problem = passwordProblem(input.password, { email, username });
  if (problem) throw badInput("password", problem);
  // counted once the input is valid: finding a password the policy takes should not use up the budget
  await throttle.beforeSignUp(email, address);
  // no hash is spent on an email that is taken (the unique index still decides a race)
  if (await db.prisma.user.findUnique({ where: { email }, select: { id: true } })) throw emailTaken();
  const passwordHash = await throttle.hashing(() => hashPassword(input.password));
  try {
    return await db.prisma.user.create({ data: { email, username, passwordHash } });
  } catch (error) {
    if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") {
      throw emailTaken();
    }
    throw error;
  }
}

const emailTaken = () => new StorySparkError("EMAIL_TAKEN", "an account with this email already exists", { field: "email" });

export async function signIn(services: AccountServices, input: { email: string; password: string }, address: string | null): Promise<User> {
  refuseUnlessLocalAccounts(services);
  const { db, throttle } = services;
  const email = normalizeEmail(input.email);
  await throttle.beforeSignIn(email, address);
  const user = await db.prisma.user.findUnique({ where: { email } });
  // an unknown email is checked against a stand-in hash: both answers take as long
  const check = await throttle.hashing(() => verifyPassword(input.password, user?.passwordHash ?? null));
  if (!user || !check.ok) {
    await throttle.signInFailed(email, address);
    throw new StorySparkError("INVALID_CREDENTIALS", "wrong email or password");
  }
  await throttle.signInSucceeded(email, address);
  if (!check.outdated) return user;
  // hashed with weaker parameters: the password is at hand only now, so the hash is renewed now
  const passwordHash = await throttle.hashing(() => hashPassword(input.password));
  await db.prisma.user.updateMany({ where: { id: user.id, passwordHash: user.passwordHash }, data: { passwordHash } });
  return { ...user, passwordHash };
}

/** Whether a normalised email is one we store. */
export function isEmail(email: string): boolean {
  return email.length <= EMAIL_MAX && EMAIL.test(email);
}

/**
 * One account per address however it is typed: NFKC folds compatibility forms (fullwidth "ａ" is
 * "a"), then case is folded (Unicode default lowercasing), then NFKC again in case that undid it.
 */
export function normalizeEmail(email: string): string {
  return email.trim().normalize("NFKC").toLowerCase().normalize("NFKC");
}
