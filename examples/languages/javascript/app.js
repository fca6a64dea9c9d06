// Hello world HTTP component in JavaScript, fetch-event style; built by
// scripts/build-examples.sh with componentize-js (see build.mjs).
addEventListener('fetch', (event) =>
  event.respondWith(new Response('Hello from JavaScript!\n', { headers: { 'content-type': 'text/plain' } })),
);
