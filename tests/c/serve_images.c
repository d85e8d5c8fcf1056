/* Loads a SavedModel the way TF Serving does (TF_LoadSessionFromSavedModel, the session-based
 * SavedModelBundle loader of TensorFlow's C API) and runs one signature on a batch of uint8
 * NHWC images, writing the output tensor's bytes to a file.
 *
 * usage: serve_images EXPORT_DIR TAG IN_TENSOR OUT_TENSOR IMAGES_FILE N H W C OUT_FILE
 *   *_TENSOR: graph tensor names "op:index" (from the signature in the MetaGraphDef);
 *   IMAGES_FILE: N*H*W*C uint8 values. Prints the output dtype (TF_DataType number) and shape on stdout.
 * Exit status 0 on success; an error message on stderr otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/c/c_api.h"

static int fail(const char *what, const TF_Status *status) {
  fprintf(stderr, "%s: %s\n", what, status ? TF_Message(status) : "");
  return 1;
}

static TF_Output tensor(TF_Graph *graph, const char *name) {
  char op[512];
  const char *colon = strrchr(name, ':');
  size_t len = colon ? (size_t)(colon - name) : strlen(name);
  TF_Output out = {NULL, 0};
  if (len >= sizeof(op)) return out;
  memcpy(op, name, len);
  op[len] = '\0';
  out.oper = TF_GraphOperationByName(graph, op);
  out.index = colon ? atoi(colon + 1) : 0;
  return out;
}

int main(int argc, char **argv) {
  if (argc != 11) {
    fprintf(stderr, "usage: %s EXPORT_DIR TAG IN_TENSOR OUT_TENSOR IMAGES_FILE N H W C OUT_FILE\n", argv[0]);
    return 2;
  }
  const char *tags[] = {argv[2]};
  int64_t dims[4] = {atoll(argv[6]), atoll(argv[7]), atoll(argv[8]), atoll(argv[9])};
  size_t nbytes = (size_t)(dims[0] * dims[1] * dims[2] * dims[3]);

  TF_Tensor *input = TF_AllocateTensor(TF_UINT8, dims, 4, nbytes);
  FILE *f = fopen(argv[5], "rb");
  if (!input || !f || fread(TF_TensorData(input), 1, nbytes, f) != nbytes) return fail("cannot read the images", NULL);
  fclose(f);

  TF_Status *status = TF_NewStatus();
  TF_Graph *graph = TF_NewGraph();
  TF_SessionOptions *options = TF_NewSessionOptions();
  TF_Buffer *meta_graph = TF_NewBuffer();
  TF_Session *session = TF_LoadSessionFromSavedModel(options, NULL, argv[1], tags, 1, graph, meta_graph, status);
  if (TF_GetCode(status) != TF_OK) return fail("TF_LoadSessionFromSavedModel", status);

  TF_Output in = tensor(graph, argv[3]), out = tensor(graph, argv[4]);
  if (!in.oper || !out.oper) return fail("a signature tensor is not in the graph", NULL);
  TF_Tensor *result = NULL;
  TF_SessionRun(session, NULL, &in, &input, 1, &out, &result, 1, NULL, 0, NULL, status);
  if (TF_GetCode(status) != TF_OK) return fail("TF_SessionRun", status);

  printf("%d", (int)TF_TensorType(result));
  for (int d = 0; d < TF_NumDims(result); ++d) printf(" %lld", (long long)TF_Dim(result, d));
  printf("\n");
  f = fopen(argv[10], "wb");
  if (!f || fwrite(TF_TensorData(result), 1, TF_TensorByteSize(result), f) != TF_TensorByteSize(result))
    return fail("cannot write the output", NULL);
  fclose(f);

  TF_DeleteTensor(result);
  TF_DeleteTensor(input);
  TF_CloseSession(session, status);
  TF_DeleteSession(session, status);
  TF_DeleteBuffer(meta_graph);
  TF_DeleteSessionOptions(options);
  TF_DeleteGraph(graph);
  TF_DeleteStatus(status);
  return 0;
}
