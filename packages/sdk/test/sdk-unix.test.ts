// The sdk unit tests again, over a real unix socket instead of the in-memory pair (#20
// item 7): connect.ts reads the transport when sdk.test.ts first loads it.
process.env.PLUGWIRE_SDK_TEST_TRANSPORT = 'unix';
await import('./sdk.test.js');
