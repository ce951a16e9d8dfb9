// Who signs users in (AUTH_MODE, SUPABASE_URL, SUPABASE_JWT_SECRET): this server's own accounts, Supabase Auth, or both.
// A setting that cannot work is refused here, at start, in one line.

/** `local`: our own sign-up, sign-in and tokens; `supabase`: Supabase Auth's access tokens only; `both`: either. */
export type AuthMode = "local" | "supabase" | "both";

export type AuthSettings = {
  authMode: AuthMode;
  /** the Supabase project's URL, without a trailing slash; absent → no Supabase token is accepted */
  supabaseUrl: string | undefined;
  /** the project's legacy HS256 JWT secret; absent → only tokens signed with its asymmetric keys (JWKS) */
  supabaseJwtSecret: string | undefined;
};

const MODES: readonly AuthMode[] = ["local", "supabase", "both"];
/** Supabase's own minimum for a custom JWT secret; shorter is guessable */
const SECRET_MIN = 32;

/** The settings, or an Error whose message is one line in the form of src/config.ts's: `NAME: problem, got "value" (for example …)`. */
export function readAuthSettings(env: NodeJS.ProcessEnv): AuthSettings {
  const supabaseUrl = supabaseUrlFrom(env.SUPABASE_URL);
  // setting SUPABASE_URL alone says Supabase tokens should work; existing accounts keep working too
  const mode = env.AUTH_MODE || (supabaseUrl ? "both" : "local");
  if (!isAuthMode(mode)) throw new Error(`AUTH_MODE: must be local, supabase or both, got "${mode}" (for example AUTH_MODE=both)`);
  if (mode !== "local" && !supabaseUrl) {
    throw new Error(`AUTH_MODE: ${mode} needs SUPABASE_URL, the Supabase project's URL, got "${mode}" (for example SUPABASE_URL=${EXAMPLE_URL})`);
  }
  const secret = env.SUPABASE_JWT_SECRET || undefined;
  // the tokens' issuer is read from the URL: a secret alone can't check it
  if (secret !== undefined && !supabaseUrl) throw new Error(`SUPABASE_JWT_SECRET: needs SUPABASE_URL too (for example SUPABASE_URL=${EXAMPLE_URL})`);
  if (secret !== undefined && secret.length < SECRET_MIN) {
    throw new Error(`SUPABASE_JWT_SECRET: must be at least ${SECRET_MIN} characters (for example the project's JWT secret, as Supabase shows it)`);
  }
  return { authMode: mode, supabaseUrl, supabaseJwtSecret: secret };
}

const EXAMPLE_URL = "https://abcdefghijklmnop.supabase.co";

function isAuthMode(value: string): value is AuthMode {
  return (MODES as readonly string[]).includes(value);
}

function supabaseUrlFrom(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const problem = (what: string) => new Error(`SUPABASE_URL: ${what}, got "${raw}" (for example SUPABASE_URL=${EXAMPLE_URL})`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw problem("is not a URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw problem("must start with https:// or http://");
  if (url.username || url.password || url.search || url.hash) throw problem("must be the project's URL alone");
  const base = url.href.replace(/\/+$/, "");
  if (/\/auth\/v1$/.test(base)) throw problem("is the project's URL, without /auth/v1");
  return base;
}
