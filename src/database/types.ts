// The Prisma types the rest of the code names.
import type { Prisma, PrismaClient } from "../generated/prisma/client.ts";

/** A client inside an interactive transaction, or the plain client where one statement suffices. */
export type DbClient = Prisma.TransactionClient | PrismaClient;
export type { Prisma, PrismaClient };
