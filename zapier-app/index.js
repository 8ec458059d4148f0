'use strict';

const authentication = require('./authentication');
const { addBearerHeader, handleErrors } = require('./common');
const newBrief = require('./triggers/new_brief');
const newActionItems = require('./triggers/new_action_items');

module.exports = {
  // This is just shorthand to reference the installed dependencies you have.
  // Zapier will need to know these before we can upload.
  version: require('./package.json').version,
  platformVersion: require('zapier-platform-core').version,

  authentication,
  beforeRequest: [addBearerHeader],
  afterResponse: [handleErrors],

  triggers: {
    [newBrief.key]: newBrief,
    [newActionItems.key]: newActionItems,
  },
  searches: {},
  creates: {},
  resources: {},
};
