// The whole schema: every type file registers itself on the builder.
import { lexicographicSortSchema } from "graphql";
import { builder } from "../builder.ts";
import "./scalars.ts";
import "./user.ts";
import "./story.ts";
import "./storyModule.ts";
import "./storyVersion.ts";
import "./storyEvent.ts";
import "./metadata.ts";
import "./history.ts";
import "./generation.ts";
import "./errorCode.ts";
import "./comment.ts";
import "./storyActivity.ts";
import "./presence.ts";
import "./collaborator.ts";
import "./branch.ts";

export const schema = lexicographicSortSchema(builder.toSchema());
