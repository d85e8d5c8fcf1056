/* Loads a SavedModel the way TF Serving does (TF_LoadSessionFromSavedModel: the session-based
 * SavedModelBundle loader of TensorFlow's C API) and runs one signature on [N, z_dim] latents and a
 * scalar truncation psi, writing the uint8 output tensor's bytes to a file.
 *
 * usage: serve_saved_model EXPORT_DIR TAG Z_TENSOR PSI_TENSOR OUT_TENSOR Z_FILE N Z_DIM PSI OUT_FILE
 *   *_TENSOR: graph tensor names "op:index" (from the signature in the MetaGraphDef);
 *   Z_FILE: N*Z_DIM float32 values, native byte order. Prints the output shape on stdout.
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

static void no_free(void *data, size_t len, void *arg) { (void)data; (void)len; (void)arg; }

int main(int argc, char **argv) {
  if (argc != 11) {
    fprintf(stderr, "usage: %s EXPORT_DIR TAG Z_TENSOR PSI_TENSOR OUT_TENSOR Z_FILE N Z_DIM PSI OUT_FILE\n", argv[0]);
    return 2;
  }
  const char *tags[] = {argv[2]};
  int64_t n = atoll(argv[7]), z_dim = atoll(argv[8]);
  float psi = (float)atof(argv[9]);

  size_t z_bytes = (size_t)(n * z_dim) * sizeof(float);
  float *z = malloc(z_bytes);
  FILE *f = fopen(argv[6], "rb");
  if (!z || !f || fread(z, 1, z_bytes, f) != z_bytes) return fail("cannot read the latents", NULL);
  fclose(f);

  TF_Status *status = TF_NewStatus();
  TF_Graph *graph = TF_NewGraph();
  TF_SessionOptions *options = TF_NewSessionOptions();
  TF_Buffer *meta_graph = TF_NewBuffer();
  TF_Session *session = TF_LoadSessionFromSavedModel(options, NULL, argv[1], tags, 1, graph, meta_graph, status);
  if (TF_GetCode(status) != TF_OK) return fail("TF_LoadSessionFromSavedModel", status);

  TF_Output inputs[2] = {tensor(graph, argv[3]), tensor(graph, argv[4])};
  TF_Output output = tensor(graph, argv[5]);
  if (!inputs[0].oper || !inputs[1].oper || !output.oper) return fail("a signature tensor is not in the graph", NULL);

  int64_t z_dims[2] = {n, z_dim};
  TF_Tensor *values[2] = {
      TF_NewTensor(TF_FLOAT, z_dims, 2, z, z_bytes, no_free, NULL),
      TF_AllocateTensor(TF_FLOAT, NULL, 0, sizeof(float)),
  };
  *(float *)TF_TensorData(values[1]) = psi;
  TF_Tensor *result = NULL;
  TF_SessionRun(session, NULL, inputs, values, 2, &output, &result, 1, NULL, 0, NULL, status);
  if (TF_GetCode(status) != TF_OK) return fail("TF_SessionRun", status);
  if (TF_TensorType(result) != TF_UINT8) return fail("the output is not uint8", NULL);

  for (int d = 0; d < TF_NumDims(result); ++d) printf("%s%lld", d ? " " : "", (long long)TF_Dim(result, d));
  printf("\n");
  f = fopen(argv[10], "wb");
  if (!f || fwrite(TF_TensorData(result), 1, TF_TensorByteSize(result), f) != TF_TensorByteSize(result))
    return fail("cannot write the images", NULL);
  fclose(f);

  TF_DeleteTensor(result);
  TF_DeleteTensor(values[0]);
  TF_DeleteTensor(values[1]);
  TF_CloseSession(session, status);
  TF_DeleteSession(session, status);
  TF_DeleteBuffer(meta_graph);
  TF_DeleteSessionOptions(options);
  TF_DeleteGraph(graph);
  TF_DeleteStatus(status);
  free(z);
  return 0;
}
