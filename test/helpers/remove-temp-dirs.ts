/** Setup file (vitest.config.ts): removes the test file's temporary directories after it ran. */
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp-dirs.ts';

afterAll(removeTempDirs);
