// Sign-up and sign-in.
import { Prisma } from "../generated/prisma/client.ts";
import type { Database } from "../database/connect.ts";
import { StorySparkError, badInput } from "../domain/errors.ts";
import { UNKNOWN_USER_HASH, hashPassword, verifyPassword } from "./passwords.ts";

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const PASSWORD_MIN = 8;
const PASSWORD_MAX = 200;
const USERNAME_MAX = 60;

export type SignUpInput = { email: string; username: string; password: string };

export async function signUp(db: Database, input: SignUpInput) {
  const email = normalizeEmail(input.email);
  if (email.length > 254 || !EMAIL.test(email)) throw badInput("email", "is not a valid email address");
  const username = input.username.trim();
  if (username.length === 0) throw badInput("username", "must not be empty");
  if (username.length > USERNAME_MAX) throw badInput("username", `must be at most ${USERNAME_MAX} characters`);
  if (input.password.length < PASSWORD_MIN) throw badInput("password", `must be at least ${PASSWORD_MIN} characters`);
  if (input.password.length > PASSWORD_MAX) throw badInput("password", `must be at most ${PASSWORD_MAX} characters`);
  const passwordHash = await hashPassword(input.password);
  try {
    return await db.prisma.user.create({ data: { email, username, passwordHash } });
  } catch (error) {
    if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") {
      throw new StorySparkError("EMAIL_TAKEN", "an account with this email already exists", { field: "email" });
    }
    throw error;
  }
}

export async function signIn(db: Database, input: { email: string; password: string }) {
  const user = await db.prisma.user.findUnique({ where: { email: normalizeEmail(input.email) } });
  const ok = await verifyPassword(input.password, user?.passwordHash ?? UNKNOWN_USER_HASH);
  if (!user || !ok) throw new StorySparkError("INVALID_CREDENTIALS", "wrong email or password");
  return user;
}

function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
