/** @type {AppTypes.Config} */
// OHIF configuration for pacs-ai-hub (copied over the package's own by deploy/ohif/fetch.sh).
//
// OHIF is served at the root of its own port; its server (deploy/ohif/serve.py, or the nginx
// template beside it) passes /dicomweb/ on to the hub. So the hub's DICOMweb looks same-origin
// to OHIF: no CORS, and the browser's hub session cookie (cookies are per host, not per port)
// or the proxy's API token authenticates every request.
const hubDicomweb = `${window.location.origin}/dicomweb`;

window.config = {
  name: "pacs-ai-hub",
  routerBasename: "/",
  extensions: [],
  modes: [],
  customizationService: {},
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  groupEnabledModesFirst: true,
  maxNumRequests: { interaction: 100, thumbnail: 5, prefetch: 10 },
  showErrorDetails: "always",
  investigationalUseDialog: { option: "never" },
  defaultDataSourceName: "pacshub",
  dataSources: [
    {
      namespace: "@ohif/extension-default.dataSourcesModule.dicomweb",
      sourceName: "pacshub",
      configuration: {
        friendlyName: "pacs-ai-hub",
        name: "pacshub",
        qidoRoot: hubDicomweb,
        wadoRoot: hubDicomweb,
        wadoUriRoot: hubDicomweb,
        qidoSupportsIncludeField: false,
        imageRendering: "wadors",
        thumbnailRendering: "wadors",
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: false,
        staticWado: false,
        singlepart: "bulkdata,video",
        bulkDataURI: { enabled: true, relativeResolution: "studies" },
        omitQuotationForMultipartRequest: true,
        // with the session cookie: no header; a deployment may set a token in serve.py instead
        requestOptions: {},
      },
    },
  ],
};
