'use strict';

const { apiUrl, PRODUCTION_URL } = require('./common');

// "Sign into Chorus": a personal API token (Chorus > Settings > Personal Settings >
// API Tokens). Testing the connection is GET /api/v1/zapier/me/, which also gives
// the connection its label.
const test = async (z, bundle) => {
  const response = await z.request({ url: apiUrl(bundle, 'me/'), method: 'GET' });
  return response.data;
};

module.exports = {
  type: 'custom',
  fields: [
    {
      key: 'api_token',
      label: 'API Token',
      required: true,
      type: 'password',
      helpText:
        'Your Chorus personal API token. Create one in Chorus under **Settings > Personal ' +
        'Settings > API Tokens** (it is shown only once). Zapier needs the Chorus ' +
        'Enterprise package with API access.',
    },
    {
      key: 'base_url',
      label: 'Chorus URL',
      required: false,
      type: 'string',
      helpText:
        `Advanced: leave blank to use ${PRODUCTION_URL}. Only set this if Chorus support ` +
        'gave you another address.',
    },
  ],
  test,
  connectionLabel: '{{email}} ({{organization}})',
};
