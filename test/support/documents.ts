// The GraphQL operations the tests send, typed by GraphQL Code Generator (`npm run codegen`).
import { graphql } from "../generated/gql.ts";

export const SignUp = graphql(`
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) { token user { id email username } }
  }
`);

export const SignIn = graphql(`
  mutation SignIn($input: SignInInput!) {
    signIn(input: $input) { token user { id } }
  }
`);

export const Viewer = graphql(`
  query Viewer { viewer { id email username } }
`);

export const CreateStory = graphql(`
  mutation CreateStory($input: CreateStoryInput!) {
    createStory(input: $input) {
      story { id title logline genre revision canUndo canRedo }
      version { number snapshot parent { number } }
      event { seq type }
    }
  }
`);

export const UpdateStory = graphql(`
  mutation UpdateStory($input: UpdateStoryInput!) {
    updateStory(input: $input) {
      story { id title logline genre isComplete revision }
      version { number }
      event { seq type payload }
    }
  }
`);

export const DeleteStory = graphql(`
  mutation DeleteStory($input: DeleteStoryInput!) { deleteStory(input: $input) { deletedStoryId } }
`);

export const WriteModule = graphql(`
  mutation WriteModule($input: WriteModuleInput!) {
    writeModule(input: $input) {
      replayed
      story { id revision canUndo canRedo }
      version { id number snapshot inputs parent { number } isActive }
      event { id seq type activeVersionNumber payload }
    }
  }
`);

export const ClearModule = graphql(`
  mutation ClearModule($input: ClearModuleInput!) {
    clearModule(input: $input) {
      story { revision }
      version { number snapshot parent { number } }
      event { seq type }
    }
  }
`);

/** What a client that only needs the write acknowledged asks for. */
export const WriteModuleBriefly = graphql(`
  mutation WriteModuleBriefly($input: WriteModuleInput!) {
    writeModule(input: $input) { event { seq } version { number } }
  }
`);

export const Undo = graphql(`
  mutation Undo($input: StoryCommandInput!) {
    undo(input: $input) {
      replayed
      story { revision canUndo canRedo }
      version { number snapshot }
      event { seq type activeVersionNumber }
    }
  }
`);

export const Redo = graphql(`
  mutation Redo($input: StoryCommandInput!) {
    redo(input: $input) {
      story { revision canUndo canRedo }
      version { number snapshot }
      event { seq type activeVersionNumber }
    }
  }
`);

export const RestoreVersion = graphql(`
  mutation RestoreVersion($input: RestoreVersionInput!) {
    restoreVersion(input: $input) {
      story { revision }
      version { number snapshot parent { number } }
      event { seq type }
    }
  }
`);

export const StoryState = graphql(`
  query StoryState($id: ID!) {
    story(id: $id) {
      id title revision canUndo canRedo
      activeVersion { number snapshot inputs }
      modules { id name order inputText output }
      versions(first: 100) { edges { node { id number snapshot parent { number } isActive event { seq type } } } }
    }
  }
`);

export const StoryEvents = graphql(`
  query StoryEvents($id: ID!, $after: Int, $first: Int) {
    story(id: $id) { events(after: $after, first: $first) { id seq type payload activeVersionNumber actor { id } } }
  }
`);

export const StoriesList = graphql(`
  query StoriesList($first: Int, $after: String) {
    stories(first: $first, after: $after) {
      edges {
        cursor
        node {
          id title
          owner { id username }
          modules { name output }
          activeVersion { number }
          versions(first: 3) { edges { node { number } } }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const Node = graphql(`
  query Node($id: ID!) { node(id: $id) { id __typename } }
`);

export const SetMetadata = graphql(`
  mutation SetMetadata($input: SetMetadataInput!) {
    setMetadata(input: $input) { metadata { id key value parentType parentId } }
  }
`);

export const DeleteMetadata = graphql(`
  mutation DeleteMetadata($input: DeleteMetadataInput!) {
    deleteMetadata(input: $input) { deleted }
  }
`);

export const StoryMetadata = graphql(`
  query StoryMetadata($id: ID!) {
    story(id: $id) {
      metadata { key value }
      modules { id metadata { key value } }
      activeVersion { id metadata { key value } }
    }
  }
`);

export const ModuleUpdated = graphql(`
  subscription ModuleUpdated($storyId: ID!, $module: ModuleName) {
    moduleUpdated(storyId: $storyId, module: $module) {
      story { id revision }
      module { name output }
      version { number }
      event { seq type }
    }
  }
`);

export const StoryEventsFeed = graphql(`
  subscription StoryEventsFeed($storyId: ID!, $after: Int) {
    storyEvents(storyId: $storyId, after: $after) { seq type }
  }
`);

export const LabelVersion = graphql(`
  mutation LabelVersion($input: LabelVersionInput!) {
    labelVersion(input: $input) { story { revision } version { number } event { seq type payload } }
  }
`);

export const LabeledVersions = graphql(`
  query LabeledVersions($id: ID!, $labeled: Boolean) {
    story(id: $id) { versions(first: 50, labeled: $labeled) { edges { node { number label } } } }
  }
`);

export const StoryAt = graphql(`
  query StoryAt($id: ID!, $revision: Int!) {
    story(id: $id) {
      at(revision: $revision) {
        revision title logline genre isComplete activeVersionNumber canUndo canRedo
        activeVersion { number }
        modules { name order inputText output }
      }
    }
  }
`);

export const VersionDiff = graphql(`
  query VersionDiff($id: ID!, $number: Int!, $against: Int) {
    story(id: $id) {
      version(number: $number) {
        diff(against: $against) {
          against
          modules {
            module status
            inputText { path kind before after }
            changes { path kind before after lines { op text } }
          }
        }
      }
    }
  }
`);

export const ExportStory = graphql(`
  query ExportStory($id: ID!, $format: ExportFormat!) {
    exportStory(id: $id, format: $format) { format filename mimeType content data }
  }
`);

export const ImportStory = graphql(`
  mutation ImportStory($input: ImportStoryInput!) {
    importStory(input: $input) { story { id title revision } version { number } event { seq } }
  }
`);

export const GenerateModule = graphql(`
  mutation GenerateModule($input: GenerateModuleInput!) {
    generateModule(input: $input) {
      replayed
      story { revision canUndo }
      version {
        number
        snapshot
        generation { id status model promptVersion attempts promptTokens completionTokens totalTokens costUsd finishReason contextVersionNumber }
      }
      event { seq type payload }
      generation { id status model messages attempts promptTokens completionTokens costUsd durationMs finishReason errorCode versionNumber }
    }
  }
`);

export const CancelGeneration = graphql(`
  mutation CancelGeneration($input: CancelGenerationInput!) {
    cancelGeneration(input: $input) { generation { id status } }
  }
`);

export const StoryGenerations = graphql(`
  query StoryGenerations($id: ID!, $status: String) {
    story(id: $id) { generations(first: 20, status: $status) { id status errorCode attempts } }
  }
`);

export const ModuleDraftFeed = graphql(`
  subscription ModuleDraftFeed($storyId: ID!) {
    moduleDraft(storyId: $storyId) { generationId module attempt delta text done error { code message } }
  }
`);

export const AiUsage = graphql(`
  query AiUsage($id: ID!) {
    viewer { aiUsage { generations calls promptTokens completionTokens totalTokens costUsd unpricedCalls byModel { model calls } } }
    story(id: $id) { aiUsage { generations calls promptTokens completionTokens costUsd } }
  }
`);

/** Module changes from the log (after a seq), with who made each. */
export const ModuleUpdatedBy = graphql(`
  subscription ModuleUpdatedBy($storyId: ID!, $after: Int) {
    moduleUpdated(storyId: $storyId, after: $after) {
      module { name }
      event { seq type }
      actor { id username }
    }
  }
`);

/** The story's events from the log (after a seq), with who made each. */
export const StoryEventsBy = graphql(`
  subscription StoryEventsBy($storyId: ID!, $after: Int) {
    storyEvents(storyId: $storyId, after: $after) { seq type actor { id username } }
  }
`);

/** A generation's drafts, with who asked for it. */
export const ModuleDraftBy = graphql(`
  subscription ModuleDraftBy($storyId: ID!) {
    moduleDraft(storyId: $storyId) { done error { code } actor { id username } }
  }
`);

export const RestoreStory = graphql(`
  mutation RestoreStory($input: RestoreStoryInput!) {
    restoreStory(input: $input) { story { id title revision } event { type } }
  }
`);

export const PurgeStory = graphql(`
  mutation PurgeStory($input: PurgeStoryInput!) { purgeStory(input: $input) { purgedStoryIds } }
`);
