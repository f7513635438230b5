// Appended to the Node pthreads build (--post-js): its pool of worker threads would keep Node's process
// alive after the last call, so the module offers to end them. Call once done with every model.
Module['terminateThreads'] = function () {
  PThread.terminateAllThreads();
};
