import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local HTTP data source for the daily run: answers what the test says, and counts requests. */
export interface DataSource {
  /** `http://127.0.0.1:PORT/cases` */
  readonly url: string;
  /** Requests answered so far. */
  readonly requests: number;
  /** The headers of the latest request. */
  readonly lastHeaders: IncomingHttpHeaders | undefined;
  /** From now on, answer this JSON body. */
  answer(body: unknown): void;
  /** From now on, answer this text as it is (not JSON, say). */
  answerText(text: string): void;
  /** The next `times` requests get this status (and an empty body) instead; Infinity: every one. */
  fail(times: number, status?: number): void;
  stop(): Promise<void>;
}

export async function startDataSource(): Promise<DataSource> {
  let body = '{}';
  let failures = 0;
  let failStatus = 503;
  let requests = 0;
  let lastHeaders: IncomingHttpHeaders | undefined;
  const server: Server = createServer((request, response) => {
    requests += 1;
    lastHeaders = request.headers;
    request.resume();
    if (failures > 0) {
      failures -= 1;
      response.writeHead(failStatus).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/cases`,
    get requests() {
      return requests;
    },
    get lastHeaders() {
      return lastHeaders;
    },
    answer(json) {
      body = JSON.stringify(json);
    },
    answerText(text) {
      body = text;
    },
    fail(times, status = 503) {
      failures = times;
      failStatus = status;
    },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The data of topic fallzahlen as a source would answer it. */
export function casesAnswer(date: string, cases: number, newCases: number): unknown {
  return { generatedAt: `${date}T05:00:00Z`, data: { date, cases, newCases } };
}

/** A daily-runs file for topic fallzahlen at 09:00 in APP_TIMEZONE from `url`. */
export function dailyRunsFile(url: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    topics: {
      fallzahlen: {
        schedule: '0 9 * * *',
        source: { url, headers: { Authorization: 'Bearer ${TEST_SOURCE_TOKEN}' }, timeoutMs: 2000 },
        fields: { date: 'data.date', cases: 'data.cases', new_cases: 'data.newCases' },
        ...extra,
      },
    },
  });
}
