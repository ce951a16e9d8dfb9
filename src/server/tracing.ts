// OpenTelemetry traces, only when OTEL_EXPORTER_OTLP_ENDPOINT is set: a span per GraphQL operation
// (@envelop/opentelemetry), joined to the caller's trace when a request carries `traceparent`, sent
// in batches over OTLP/HTTP. Without the variable none of this is imported, so it costs nothing.
import type { IncomingMessage, RequestListener } from "node:http";
import type { Plugin } from "graphql-yoga";
import type { Logger } from "./logger.ts";

export type Tracing = {
  /** the span per operation */
  plugin: Plugin;
  /** runs each HTTP request in the trace its `traceparent` header names, if any */
  wrap(handler: RequestListener): RequestListener;
  /** sends what is still buffered */
  shutdown(): Promise<void>;
};

/** Export failures (a collector that is down) are logged at most this often. */
const EXPORT_ERROR_LOG_MS = 60_000;

export async function startTracing(options: { endpoint: string; serviceName: string; logger: Logger }): Promise<Tracing> {
  const [api, { NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }, { useOpenTelemetry }] = await Promise.all([
    import("@opentelemetry/api"),
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
    import("@envelop/opentelemetry"),
  ]);
  // the OTLP convention: the variable is the collector's base URL, traces go to its /v1/traces
  const url = new URL("v1/traces", options.endpoint.endsWith("/") ? options.endpoint : `${options.endpoint}/`).toString();
  let lastLogged = 0;
  const warnSometimes = (message: string, ...args: unknown[]) => {
    const now = Date.now();
    if (now - lastLogged < EXPORT_ERROR_LOG_MS) return;
    lastLogged = now;
    options.logger.warn(`OpenTelemetry: ${message}`, ...args.map((a) => (a instanceof Error ? a.message : a)));
  };
  api.diag.setLogger({ error: warnSometimes, warn: warnSometimes, info: () => {}, debug: () => {}, verbose: () => {} }, api.DiagLogLevel.WARN);

  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  // the async-hooks context manager and the W3C trace-context propagator
  provider.register();
  // neither variables nor results: they may hold passwords and story text
  const plugin = useOpenTelemetry({ resolvers: false, variables: false, result: false }, provider, api.SpanKind.SERVER, {}, options.serviceName) as Plugin;
  const headers = {
    get: (carrier: IncomingMessage, key: string) => carrier.headers[key],
    keys: (carrier: IncomingMessage) => Object.keys(carrier.headers),
  };
  options.logger.info(`OpenTelemetry traces go to ${url}`);
  return {
    plugin,
    wrap: (handler) => (request, response) => api.context.with(api.propagation.extract(api.context.active(), request, headers), () => handler(request, response)),
    shutdown: () => provider.shutdown(),
  };
}
